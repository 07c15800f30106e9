"""Rendering a subject in a scene to an RGB image, with anti-aliased edges from signed distances.

Plain numpy on [H, W] grids: at 32 px one image costs a few hundred microseconds (see bench/bench_render.py).
"""

from __future__ import annotations

import colorsys
import functools

import numpy as np

from suti.world import shapes, vocab
from suti.world.scenes import Scene
from suti.world.subjects import Subject


@functools.lru_cache(maxsize=8)
def _grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1], y down. [H, W] each."""
    c = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    return np.meshgrid(c, c, indexing="xy")


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _mix(base: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Alpha-composite `colour` ([3] or [H, W, 3]) over `base` [H, W, 3] with coverage alpha [H, W]."""
    a = alpha[..., None]
    return base + (colour - base) * a


def _coverage(sd: np.ndarray, pixels_per_unit: float) -> np.ndarray:
    """Anti-aliased coverage from a signed distance: half a pixel of soft edge on each side."""
    return np.clip(0.5 - sd * pixels_per_unit, 0.0, 1.0)


# --- backgrounds: (X, Y, var) -> [H, W, 3] in [0, 1] -----------------------------------------------------------


def _bands(Y, edges, colours):
    """Horizontal bands: colours[i] where edges[i-1] <= Y < edges[i]."""
    idx = np.searchsorted(np.asarray(edges, np.float32), Y, side="right")
    return np.asarray(colours, np.float32)[idx]


def _bg_studio(X, Y, var):
    top, bottom = hsv(0.6, 0.05, 0.86 - 0.06 * var), hsv(0.6, 0.06, 0.62)
    return top + (bottom - top) * Y[..., None]


def _bg_jungle(X, Y, var):
    leaves = np.sin(X * 23 + var * 6.28) * np.sin(Y * 19 + X * 7) > 0.25
    img = np.where(leaves[..., None], hsv(0.28, 0.75, 0.55), hsv(0.36, 0.75, 0.3))
    vines = np.abs(np.sin(X * 9 + var * 3)) < 0.08
    return np.where(vines[..., None], hsv(0.22, 0.6, 0.4), img)


def _bg_snow(X, Y, var):
    h = 0.3 + 0.1 * var
    return _bands(Y, [h], [hsv(0.58, 0.18, 0.95), hsv(0.6, 0.03, 0.98)])


def _bg_beach(X, Y, var):
    h1 = 0.25 + 0.1 * var
    return _bands(Y, [h1, h1 + 0.15], [hsv(0.57, 0.45, 0.95), hsv(0.55, 0.85, 0.7), hsv(0.12, 0.38, 0.92)])


def _bg_street(X, Y, var):
    row = np.floor(Y * 7)
    fx = (X * 7 + var + 0.5 * row) % 1.0
    fy = (Y * 7) % 1.0
    joints = (fx < 0.12) | (fy < 0.12)
    return np.where(joints[..., None], hsv(0.6, 0.05, 0.28), hsv(0.6, 0.06, 0.52))


def _bg_wood(X, Y, var):
    row = np.floor(Y * 5 + var)
    grain = 0.06 * np.sin(X * 40 + row * 2.3)
    img = hsv(0.08, 0.6, 0.55) * (1.0 + grain)[..., None]
    seams = ((Y * 5 + var) % 1.0) < 0.07
    return np.where(seams[..., None], hsv(0.07, 0.65, 0.3), img)


def _bg_night(X, Y, var):
    stars = (np.sin(X * 127.1 + Y * 311.7 + var * 10.0) * 43758.5) % 1.0 > 0.97
    return np.where(stars[..., None], hsv(0.15, 0.1, 1.0), hsv(0.65, 0.8, 0.18))


def _bg_fabric(X, Y, var):
    folds = 0.08 * np.sin(X * 11 + Y * 4 + var * 6.28)
    return hsv(0.92, 0.38, 0.95) * (1.0 + folds)[..., None]


def _bg_grass(X, Y, var):
    h = 0.28 + 0.1 * var
    blades = 1.0 + 0.1 * np.sin(X * 60 + var * 5)
    grass = hsv(0.3, 0.7, 0.55) * blades[..., None]
    return np.where((Y < h)[..., None], hsv(0.57, 0.4, 0.95), grass)


BACKGROUND_PAINTERS = {
    "studio": _bg_studio,
    "jungle": _bg_jungle,
    "snow": _bg_snow,
    "beach": _bg_beach,
    "street": _bg_street,
    "wooden floor": _bg_wood,
    "night sky": _bg_night,
    "pink fabric": _bg_fabric,
    "grass": _bg_grass,
}
assert set(BACKGROUND_PAINTERS) == set(vocab.BACKGROUNDS)


# --- subject appearance ----------------------------------------------------------------------------------------


def _pattern(pattern: str, u, v, freq: float, phase: float, angle: float):
    """Pattern coverage in [0, 1] on object coordinates; 0 everywhere for "solid"."""
    tau = 2 * np.pi
    if pattern == "stripes":
        wave = np.sin(tau * (freq * (u * np.cos(angle) + v * np.sin(angle)) + phase))
        return np.clip((wave - 0.45) * 3 + 0.5, 0, 1)  # thin stripes (~35% cover): the primary colour dominates
    if pattern == "dots":
        du = (freq * u + phase) % 1.0 - 0.5
        dv = (freq * v + 0.7 * phase) % 1.0 - 0.5
        return np.clip((0.3 - np.hypot(du, dv)) * 10 + 0.5, 0, 1)
    if pattern == "checker":
        return np.clip(np.sin(tau * (freq * u + phase)) * np.sin(tau * (freq * v + phase)) * 6 + 0.5, 0, 1)
    if pattern == "rings":
        return np.clip((np.sin(tau * (1.5 * freq * np.hypot(u, v) + phase)) - 0.45) * 3 + 0.5, 0, 1)
    return None


def appearance(subject: Subject, scene: Scene) -> dict:
    """The subject's colours and pattern after the scene's property modifications."""
    hue = subject.hue if scene.recolour is None else vocab.COLOURS[scene.recolour]
    hue2 = subject.hue2 if scene.recolour is None else (hue + (subject.hue2 - subject.hue)) % 1.0
    return dict(
        colour=scene.recolour or subject.colour,
        pattern=scene.repattern or subject.pattern,
        primary=hsv(hue, subject.sat, subject.val),
        # the pattern colour is pale, so "the subject's colour" is unambiguous whatever the pattern
        secondary=hsv(hue2, subject.sat * 0.4, min(1.0, subject.val + 0.3)),
    )


def _paint_subject(img, subject, scene, u, v, ppu):
    """Composite the subject over img; returns (img, coverage [H, W], v of the object's top)."""
    look = appearance(subject, scene)
    sd, top = shapes.silhouette(subject.cls, u, v, subject.aspect, subject.part)
    alpha = _coverage(sd, ppu)
    colour = np.broadcast_to(look["primary"], img.shape)
    pat = _pattern(look["pattern"], u, v, subject.freq, subject.phase, subject.angle)
    if pat is not None:
        colour = _mix(colour, look["secondary"], pat)
    shade = 1.0 + 0.2 * (u * np.cos(scene.light_angle) + v * np.sin(scene.light_angle))
    colour = colour * shade[..., None]
    if scene.material in ("shiny", "glass"):
        glint = np.exp(-((u + 0.12) ** 2 + (v + 0.18) ** 2) / 0.008) * 0.85
        colour = _mix(colour, np.ones(3, np.float32), glint)
    if scene.material == "glass":
        alpha = alpha * 0.55
    return _mix(img, colour, alpha), alpha, top


# --- companions ------------------------------------------------------------------------------------------------

_COMPANION_COLOURS = {
    "red ball": hsv(0.0, 0.85, 0.85),
    "yellow star": hsv(0.14, 0.9, 0.98),
    "green cube": hsv(0.33, 0.8, 0.6),
    "pink flower": hsv(0.9, 0.55, 0.98),
    "party hat": hsv(0.8, 0.75, 0.9),
    "crown": hsv(0.12, 0.85, 0.95),
}


def _companion_sd(name, x, y, r):
    """Signed distance of a companion centred at the origin of (x, y), size r (same units)."""
    if name == "red ball":
        return np.hypot(x, y) - r
    if name == "yellow star":
        return (np.sqrt(np.abs(x)) + np.sqrt(np.abs(y))) ** 2 - 1.2 * r
    if name == "green cube":
        return shapes.box(x, y, 0.0, 0.0, 0.85 * r, 0.85 * r)
    if name == "pink flower":
        return np.hypot(x, y) - r * (0.75 + 0.25 * np.cos(5 * np.arctan2(y, x)))
    if name == "party hat":
        return shapes.trapezoid(x, y, -r * 1.6, 0.0, 0.0, 0.8 * r)
    if name == "crown":
        band = shapes.box(x, y, 0.0, -0.45 * r, 0.85 * r, 0.45 * r)
        points = np.minimum(np.minimum(shapes.circle(x, y, -0.65 * r, -1.05 * r, 0.22 * r),
                                       shapes.circle(x, y, 0.0, -1.15 * r, 0.22 * r)),
                            shapes.circle(x, y, 0.65 * r, -1.05 * r, 0.22 * r))
        return np.minimum(band, points)
    raise KeyError(name)


def _paint_companion(img, subject, scene, X, Y, u, v, top, resolution):
    """Composite the scene's companion: beside the subject (image coordinates) or worn on top (object coordinates)."""
    name = scene.companion
    if vocab.COMPANIONS[name] == "on top":
        ppu = scene.scale * resolution
        alpha = _coverage(_companion_sd(name, u, v - top + 0.02, 0.2), ppu)
    else:
        r = 0.22 * scene.scale
        side = 1.0 if scene.cx <= 0.5 else -1.0
        px = scene.cx + side * (0.5 * scene.scale * max(subject.aspect, 0.9) + 1.1 * r)
        py = scene.cy + 0.5 * scene.scale - r
        alpha = _coverage(_companion_sd(name, X - px, Y - py, r), resolution)
    return _mix(img, _COMPANION_COLOURS[name], alpha), alpha


def render(subject: Subject, scene: Scene, resolution: int = 32, *, with_masks: bool = False):
    """Render `subject` in `scene`.

    Args:
      subject: who is shown.
      scene: where and how.
      resolution: image side in pixels (any positive size; 32, 64, 128 and 256 are the tested ones).
      with_masks: also return {"subject": [H, W], "companion": [H, W]} coverages in [0, 1].

    Returns:
      uint8 [H, W, 3] image (and the masks when asked).
    """
    X, Y = _grid(resolution)
    img = BACKGROUND_PAINTERS[scene.background](X, Y, scene.bg_var)
    img = np.broadcast_to(img, X.shape + (3,)).astype(np.float32)
    c, s = np.cos(scene.angle), np.sin(scene.angle)
    dx, dy = X - scene.cx, Y - scene.cy
    u = (c * dx + s * dy) / scene.scale
    v = (-s * dx + c * dy) / scene.scale
    img, subject_alpha, top = _paint_subject(img, subject, scene, u, v, scene.scale * resolution)
    companion_alpha = np.zeros_like(X)
    if scene.companion is not None:
        img, companion_alpha = _paint_companion(img, subject, scene, X, Y, u, v, top, resolution)
    img = np.clip(img * scene.brightness, 0.0, 1.0)
    out = (img * 255.0 + 0.5).astype(np.uint8)
    if with_masks:
        return out, {"subject": subject_alpha, "companion": companion_alpha}
    return out
