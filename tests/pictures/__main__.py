"""`python -m tests.pictures`: draw the README's pictures (see tests/pictures/readme.py)."""

from tests.pictures.readme import main

raise SystemExit(main())
