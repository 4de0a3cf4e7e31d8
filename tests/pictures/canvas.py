"""Drawing in CSS pixels onto an image `scale` times larger, or only measuring.

A message is laid out twice with the same code: once on a canvas without an image, which only
measures (how tall the picture must be), then on the real one. Colours may carry an alpha: they
are blended over what is already drawn, as a translucent CSS colour would be.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFont

from tests.pictures import theme

Colour = tuple[int, int, int] | tuple[int, int, int, int]


class Canvas:
    def __init__(self, image: Image.Image | None, scale: float) -> None:
        self.image = image
        self.scale = scale
        self._draw = ImageDraw.Draw(image, "RGBA") if image is not None else None

    @property
    def measuring(self) -> bool:
        return self._draw is None

    # -- text ----------------------------------------------------------------------------------

    def font(self, style: str, size: float) -> ImageFont.FreeTypeFont:
        """The font of `style` for a CSS font size."""
        return theme.font(style, size * theme.SIZE_FACTOR * self.scale)

    def width(self, text: str, style: str, size: float) -> float:
        return self.font(style, size).getlength(text) / self.scale

    def metrics(self, style: str, size: float) -> tuple[float, float]:
        """Ascent and descent in CSS pixels."""
        ascent, descent = self.font(style, size).getmetrics()
        return ascent / self.scale, descent / self.scale

    def baseline(self, top: float, line_height: float, style: str, size: float) -> float:
        """Where text of this font sits in a line box starting at `top` (centred, as CSS does)."""
        ascent, descent = self.metrics(style, size)
        return top + (line_height - ascent - descent) / 2 + ascent

    def text(
        self,
        x: float,
        baseline: float,
        text: str,
        style: str,
        size: float,
        fill: Colour,
        *,
        anchor: str = "ls",
    ) -> None:
        if self._draw is None:
            return
        s = self.scale
        self._draw.text(
            (x * s, baseline * s), text, font=self.font(style, size), fill=fill, anchor=anchor
        )

    # -- shapes --------------------------------------------------------------------------------

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: Colour | None,
        *,
        radius: float = 0,
        outline: Colour | None = None,
        corners: tuple[bool, bool, bool, bool] | None = None,
    ) -> None:
        if self._draw is None:
            return
        s = self.scale
        x0, y0, x1, y1 = (round(v * s) for v in box)
        self._draw.rounded_rectangle(
            (x0, y0, x1 - 1, y1 - 1),
            radius=round(radius * s),
            fill=fill,
            outline=outline,
            width=max(1, round(s)) if outline is not None else 0,
            corners=corners,
        )

    def ellipse(
        self,
        box: tuple[float, float, float, float],
        fill: Colour | None,
        *,
        outline: Colour | None = None,
        width: float = 1,
    ) -> None:
        if self._draw is None:
            return
        s = self.scale
        x0, y0, x1, y1 = (round(v * s) for v in box)
        self._draw.ellipse(
            (x0, y0, x1 - 1, y1 - 1), fill=fill, outline=outline, width=round(width * s)
        )

    def polygon(self, points: Sequence[tuple[float, float]], fill: Colour) -> None:
        if self._draw is None:
            return
        s = self.scale
        self._draw.polygon([(x * s, y * s) for x, y in points], fill=fill)

    def line(self, points: Sequence[tuple[float, float]], fill: Colour, width: float = 1) -> None:
        if self._draw is None:
            return
        s = self.scale
        self._draw.line(
            [(x * s, y * s) for x, y in points], fill=fill, width=max(1, round(width * s))
        )

    def arc(
        self,
        box: tuple[float, float, float, float],
        start: float,
        end: float,
        fill: Colour,
        width: float = 1,
    ) -> None:
        if self._draw is None:
            return
        s = self.scale
        x0, y0, x1, y1 = (round(v * s) for v in box)
        self._draw.arc((x0, y0, x1, y1), start, end, fill=fill, width=max(1, round(width * s)))

    def picture(
        self, picture: Image.Image, box: tuple[float, float, float, float], *, radius: float = 0
    ) -> None:
        """`picture` scaled into `box`, its transparency and rounded corners over what is here."""
        if self.image is None:
            return
        s = self.scale
        x0, y0, x1, y1 = (round(v * s) for v in box)
        size = (max(1, x1 - x0), max(1, y1 - y0))
        scaled = picture.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
        corners = Image.new("L", size, 0)
        ImageDraw.Draw(corners).rounded_rectangle(
            (0, 0, size[0] - 1, size[1] - 1), radius=round(radius * s), fill=255
        )
        mask = ImageChops.multiply(scaled.getchannel("A"), corners)
        self.image.paste(scaled.convert("RGB"), (x0, y0), mask)
