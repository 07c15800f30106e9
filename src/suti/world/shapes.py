"""Signed-distance silhouettes of the SynthBench classes, in object coordinates.

Object coordinates: u to the right, v down, the object's height spans v in [-0.5, 0.5]. Distances are in the same
units (negative inside). Everything is plain numpy on whole pixel grids, so one class costs a handful of array ops.
"""

from __future__ import annotations

import numpy as np


def box(u, v, cu, cv, hu, hv, r=0.0):
    """Rounded box centred at (cu, cv) with half sizes (hu, hv) and corner radius r."""
    qx = np.abs(u - cu) - hu + r
    qy = np.abs(v - cv) - hv + r
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - r


def ellipse(u, v, cu, cv, a, b):
    """Ellipse with semi-axes (a, b); distance approximated by scaling the normalised radius."""
    return (np.hypot((u - cu) / a, (v - cv) / b) - 1.0) * min(a, b)


def circle(u, v, cu, cv, r):
    return np.hypot(u - cu, v - cv) - r


def ring(u, v, cu, cv, r, t):
    """Annulus of radius r and half thickness t."""
    return np.abs(np.hypot(u - cu, v - cv) - r) - t


def segment(u, v, a, b, r):
    """Capsule from point a to point b with radius r."""
    pu, pv = u - a[0], v - a[1]
    bu, bv = b[0] - a[0], b[1] - a[1]
    h = np.clip((pu * bu + pv * bv) / (bu * bu + bv * bv), 0.0, 1.0)
    return np.hypot(pu - bu * h, pv - bv * h) - r


def trapezoid(u, v, v_top, v_bot, w_top, w_bot):
    """Symmetric trapezoid between v_top and v_bot with half widths w_top (top) and w_bot (bottom)."""
    slope = (w_bot - w_top) / (v_bot - v_top)
    width = w_top + (v - v_top) * slope
    sides = (np.abs(u) - width) / np.sqrt(1.0 + slope * slope)
    caps = np.maximum(v_top - v, v - v_bot)
    return np.maximum(sides, caps)


def _mug(u, v, a, p):
    body = box(u, v, -0.08, 0.0, 0.3 * a, 0.42, r=0.05)
    handle = ring(u, v, -0.08 + 0.3 * a, 0.0, 0.13 + 0.08 * p, 0.045)
    return np.minimum(body, handle), -0.42


def _ball(u, v, a, p):
    return circle(u, v, 0.0, 0.0, 0.4 + 0.06 * p), -0.4 - 0.06 * p


def _vase(u, v, a, p):
    body = ellipse(u, v, 0.0, 0.16, 0.3 * a, 0.33)
    neck = box(u, v, 0.0, -0.28, 0.07 + 0.06 * p, 0.2)
    lip = box(u, v, 0.0, -0.46, 0.13 + 0.06 * p, 0.04, r=0.02)
    return np.minimum(np.minimum(body, neck), lip), -0.5


def _box(u, v, a, p):
    hw = min(0.4 * a, 0.48)
    body = box(u, v, 0.0, 0.06, hw, 0.38)
    lid_h = 0.07 + 0.05 * p
    lid = box(u, v, 0.0, -0.32 - lid_h + 0.07, hw + 0.04, lid_h, r=0.02)
    return np.minimum(body, lid), -0.32 - 2 * lid_h + 0.07


def _lamp(u, v, a, p):
    shade = trapezoid(u, v, -0.5, -0.08, 0.12 + 0.08 * p, 0.3 * a)
    pole = box(u, v, 0.0, 0.16, 0.035, 0.26)
    base = ellipse(u, v, 0.0, 0.44, 0.22 * a, 0.06)
    return np.minimum(np.minimum(shade, pole), base), -0.5


def _bottle(u, v, a, p):
    body = box(u, v, 0.0, 0.13, 0.2 * a, 0.37, r=0.06)
    shoulder = ellipse(u, v, 0.0, -0.2, 0.2 * a, 0.13)
    neck = box(u, v, 0.0, -0.37, 0.05 + 0.03 * p, 0.13)
    return np.minimum(np.minimum(body, shoulder), neck), -0.5


def _teapot(u, v, a, p):
    body = ellipse(u, v, 0.0, 0.1, 0.32 * a, 0.3)
    lid = ellipse(u, v, 0.0, -0.22, 0.15, 0.07)
    knob = circle(u, v, 0.0, -0.31, 0.05)
    spout = segment(u, v, (-0.25 * a, 0.1), (-0.42 * a - 0.06 * p, -0.17), 0.045)
    handle = ring(u, v, 0.3 * a, 0.08, 0.14, 0.04)
    parts = np.minimum(np.minimum(body, lid), np.minimum(knob, np.minimum(spout, handle)))
    return parts, -0.36


def _chair(u, v, a, p):
    hw = 0.3 * a
    back_top = -0.5 + 0.15 * p
    seat = box(u, v, 0.0, 0.06, hw, 0.05)
    back = box(u, v, hw - 0.05, (back_top + 0.06) / 2, 0.05, (0.06 - back_top) / 2)
    legs = np.minimum(box(u, v, -hw + 0.05, 0.3, 0.035, 0.2), box(u, v, hw - 0.05, 0.3, 0.035, 0.2))
    return np.minimum(np.minimum(seat, back), legs), back_top


SILHOUETTES = {
    "mug": _mug,
    "ball": _ball,
    "vase": _vase,
    "box": _box,
    "lamp": _lamp,
    "bottle": _bottle,
    "teapot": _teapot,
    "chair": _chair,
}


def silhouette(cls: str, u: np.ndarray, v: np.ndarray, aspect: float, part: float) -> tuple[np.ndarray, float]:
    """Signed distance of class `cls` on the grid (u, v), and the v of the object's top (where hats sit)."""
    return SILHOUETTES[cls](u, v, aspect, part)
