"""Measurements taken inside the browser: focus rings, colours, contrast, overflow."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page

# WCAG 2 relative luminance and contrast, on computed rgb()/rgba() colours; a translucent
# background is blended over the nearest opaque one beneath it.
_COLOUR_JS = """
const parse = (c) => {
  const m = c.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
};
const over = (top, bottom) => ({
  r: top.r * top.a + bottom.r * (1 - top.a),
  g: top.g * top.a + bottom.g * (1 - top.a),
  b: top.b * top.a + bottom.b * (1 - top.a),
  a: 1,
});
const luminance = (c) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
};
const contrast = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const backgroundOf = (element) => {
  const layers = [];
  for (let e = element; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
  }
  let result = {r: 255, g: 255, b: 255, a: 1};
  for (const layer of layers.reverse()) result = over(layer, result);
  return result;
};
"""


@dataclass(frozen=True)
class FocusRing:
    element: str
    outline_style: str
    outline_width: float
    outline_colour: str
    contrast_with_background: float
    in_viewport: bool


def next_frame(page: Page) -> None:
    """Wait until the browser has rendered a frame (styles caught up with the last key press)."""
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def focused_ring(page: Page) -> FocusRing:
    """The focused element and the outline it shows, once the focus styles have applied."""
    next_frame(page)
    data = page.evaluate(
        "() => {"
        + _COLOUR_JS
        + """
        const e = document.activeElement;
        const s = getComputedStyle(e);
        const r = e.getBoundingClientRect();
        const ring = parse(s.outlineColor);
        const words = (e.innerText || e.value || e.name || "").trim().slice(0, 40);
        return {
          element: `${e.tagName.toLowerCase()} "${words}"`,
          outline_style: s.outlineStyle,
          outline_width: parseFloat(s.outlineWidth),
          outline_colour: s.outlineColor,
          contrast_with_background: ring ? contrast(ring, backgroundOf(e.parentElement || e)) : 0,
          in_viewport: r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth,
        };
      }"""
    )
    return FocusRing(**data)


def body_colours(page: Page) -> dict[str, float]:
    """Luminance (0 black … 1 white) of the page background and body text."""
    return page.evaluate(
        "() => {"
        + _COLOUR_JS
        + """
        const s = getComputedStyle(document.body);
        return {background: luminance(parse(s.backgroundColor)), text: luminance(parse(s.color))};
      }"""
    )


def low_contrast_text(page: Page) -> list[str]:
    """Every visible piece of text below WCAG AA: 4.5:1, or 3:1 for large text. Disabled
    controls are exempt, as WCAG allows.

    Measured once the document has loaded: right after a form post, the new page's text
    can be in the DOM before its stylesheet applies, and unstyled text (the browser's own
    dark-scheme white) measured against an unstyled page reads as 1:1."""
    page.wait_for_load_state("load")
    return page.evaluate(
        "() => {"
        + _COLOUR_JS
        + """
        const failures = [];
        for (const e of document.body.querySelectorAll("*")) {
          if (e.matches("script, style, meter, progress, :disabled, :disabled *")) continue;
          const hasText = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
          if (!hasText || !e.getClientRects().length) continue;
          const s = getComputedStyle(e);
          if (s.visibility === "hidden" || parseFloat(s.opacity) === 0) continue;
          const fg = parse(s.color);
          const bg = backgroundOf(e);
          const ratio = contrast(over(fg, bg), bg);
          const size = parseFloat(s.fontSize);
          const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight) >= 700);
          if (ratio < (large ? 3 : 4.5)) {
            const name = [e.tagName.toLowerCase(), ...e.classList].join(".");
            const words = e.textContent.trim().slice(0, 30);
            failures.push(`${name} "${words}" ${ratio.toFixed(2)}:1`);
          }
        }
        return failures;
      }"""
    )


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
