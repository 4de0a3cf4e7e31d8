"""Local fakes that speak the real protocols on loopback: the AI/ML API and Discord."""
