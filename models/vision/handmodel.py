"""A kinematic hand model that renders synthetic 21-point landmarks for each gesture class (build time).

Hand frame: x toward the thumb side, y along the extended fingers, z out of the palm; units of palm length.
Each finger: abduction at the MCP and flexion at MCP/PIP/DIP (curling toward +z). The thumb: a CMC direction
(abduction from the index side, opposition toward the palm) and flexion at MCP/IP. A random view (palm or back
toward the camera, yaw/pitch), roll, bone-length and palm-width variation, mirroring (handedness) and landmark
noise are applied, then the points are projected orthographically to image coordinates (y down).

Checked against the recorded hands (``tests/test_vision_handmodel.py``): the knuckle layout is the real one, straight
fingers fan out, folded fingers curl back to their knuckle and lean toward the thumb, and a fist's thumb tip rests
on the index / middle finger.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Rng = np.random.Generator
D = np.deg2rad

# index..pinky knuckles (x, y, z): the layout of real hands seen palm-on (digit photos, median of the landmarks
# in a frame with the middle knuckle at (0, 1)): palm width (index→pinky knuckle) ≈ 0.66 of palm length, the
# pinky knuckle well below the index one, and the outer knuckles slightly toward the palm (the transverse arch)
MCP = {1: (0.24, 0.99, 0.03), 2: (0.0, 1.0, 0.0), 3: (-0.2, 0.93, 0.02), 4: (-0.39, 0.79, 0.06)}
BONES = {1: (0.46, 0.27, 0.21), 2: (0.52, 0.32, 0.22), 3: (0.46, 0.29, 0.21), 4: (0.36, 0.21, 0.19)}
# the direction of each straight finger, degrees toward the pinky side: the fingers fan out (index toward the
# thumb, pinky away from it); a bent finger points toward the base of the thumb instead (fingers converge)
SPLAY = {1: -8.0, 2: 0.0, 3: 7.0, 4: 16.0}
THUMB_CMC = np.array([0.28, 0.2, 0.02])
N_SCALES = 7  # per-hand random scales: thumb and four finger lengths, palm width, palm arch
THUMB_BONES = (0.42, 0.33, 0.27)


def _rotate_towards(d: np.ndarray, t: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit vector d toward direction t by ``angle`` radians (in the plane they span)."""
    t_perp = t - np.dot(t, d) * d
    n = np.linalg.norm(t_perp)
    if n < 1e-9:
        return d
    t_perp /= n
    return np.cos(angle) * d + np.sin(angle) * t_perp


def finger(k: int, flex: tuple[float, float, float], abd: float, scale: np.ndarray) -> list[np.ndarray]:
    """MCP, PIP, DIP, tip of finger ``k`` (1 = index); ``abd``: degrees toward the pinky side beyond ``SPLAY``."""
    x, y, z = MCP[k]
    base = np.array([x * scale[5], y, z * scale[6]])
    a = D(SPLAY[k] + abd)
    u = np.array([-np.sin(a), np.cos(a), 0.0])
    # flexion turns the finger in the plane of ``u`` and the palm normal; angles add up joint by joint (a
    # plain "rotate toward the palm" would turn a finger already bent past 90 degrees back out)
    pts, p, theta = [base], base, 0.0
    for bone, f in zip(BONES[k], flex, strict=False):
        theta += D(f)
        p = p + (np.cos(theta) * u + np.array([0.0, 0.0, np.sin(theta)])) * bone * scale[k]
        pts.append(p)
    return pts


def thumb(abduct: float, oppose: float, flex: tuple[float, float], scale: np.ndarray) -> list[np.ndarray]:
    """Thumb CMC, MCP, IP, tip. ``abduct``: angle from the y axis toward +x; ``oppose``: toward the palm (+z)."""
    d = np.array([np.sin(D(abduct)), np.cos(D(abduct)), 0.0])
    d = _rotate_towards(d, np.array([0.0, 0.0, 1.0]), D(oppose))
    cmc = THUMB_CMC * np.array([scale[5], 1.0, 1.0])
    pts, p = [cmc], cmc
    target = np.array([-0.8, 0.2, 0.6])  # the thumb bends across the palm
    bend = target - np.dot(target, d) * d
    bend /= np.linalg.norm(bend) + 1e-9
    d0, theta = d, 0.0
    for i, bone in enumerate(THUMB_BONES):
        if i > 0:
            theta += D(flex[i - 1])
            d = np.cos(theta) * d0 + np.sin(theta) * bend
        p = p + d * bone * scale[0]
        pts.append(p)
    return pts


def assemble(th: list[np.ndarray], fingers: list[list[np.ndarray]]) -> np.ndarray:
    pts = [np.zeros(3), *th]
    for f in fingers:
        pts.extend(f)
    return np.asarray(pts)


# -- finger states ---------------------------------------------------------------------------------------
def ext(r: Rng) -> tuple[float, float, float]:
    return (r.uniform(-15, 20), r.uniform(0, 20), r.uniform(0, 15))


def fold(r: Rng) -> tuple[float, float, float]:
    """A folded finger. Mostly curled tight, the tip back near its knuckle as in real fists (tip→knuckle ≈ 0.3
    palm lengths); sometimes looser."""
    if r.random() < 0.75:
        return (r.uniform(50, 90), r.uniform(95, 120), r.uniform(50, 85))
    return (r.uniform(40, 90), r.uniform(60, 100), r.uniform(20, 60))


def point(r: Rng) -> tuple[float, float, float]:
    """A pointing index: straight, often bent forward at the knuckle (pointing ahead or down, not up)."""
    if r.random() < 0.35:
        return (r.uniform(20, 60), r.uniform(0, 25), r.uniform(0, 20))
    return ext(r)


def half(r: Rng) -> tuple[float, float, float]:
    return (r.uniform(20, 60), r.uniform(30, 80), r.uniform(10, 50))


def claw(r: Rng) -> tuple[float, float, float]:
    return (r.uniform(-10, 25), r.uniform(50, 90), r.uniform(30, 60))


def thumb_ext(r: Rng, s: np.ndarray) -> list[np.ndarray]:
    return thumb(r.uniform(20, 70), r.uniform(0, 30), (r.uniform(-10, 15), r.uniform(-10, 20)), s)


def thumb_fold(r: Rng, s: np.ndarray, alongside: float = 0.4) -> list[np.ndarray]:
    if r.random() >= alongside:  # across the palm / over the fingers
        return thumb(r.uniform(10, 35), r.uniform(40, 75), (r.uniform(30, 60), r.uniform(20, 60)), s)
    return thumb(r.uniform(0, 20), r.uniform(10, 35), (r.uniform(10, 40), r.uniform(10, 50)), s)  # alongside


def thumb_across(r: Rng, s: np.ndarray) -> list[np.ndarray]:
    return thumb_fold(r, s, alongside=0.0)


def thumb_gun(r: Rng, s: np.ndarray) -> list[np.ndarray]:
    """Thumb straight out at a right angle to the index (the "gun" / "L"; a pointing thumb is closer in)."""
    return thumb(r.uniform(65, 95), r.uniform(-10, 15), (r.uniform(-10, 10), r.uniform(-10, 10)), s)


def thumb_up(r: Rng, s: np.ndarray) -> list[np.ndarray]:
    """Thumb straight out of a fist. In a real thumbs-up it sticks out radially (along the knuckle row)."""
    if r.random() < 0.7:
        return thumb(r.uniform(45, 85), r.uniform(-10, 20), (r.uniform(-10, 15), r.uniform(-10, 15)), s)
    return thumb(r.uniform(0, 45), r.uniform(-10, 25), (r.uniform(-10, 15), r.uniform(-10, 15)), s)


def touching(th: list[np.ndarray], tip: np.ndarray, r: Rng) -> list[np.ndarray]:
    """Bend the thumb so its tip meets ``tip`` (OK / pinch / ASL 6-9)."""
    th = [p.copy() for p in th]
    target = tip + r.normal(0, 0.04, 3)
    th[3] = target
    th[2] = (th[1] + target) / 2 + np.array([0.05, 0.0, 0.12]) * r.uniform(0.5, 1.5)
    return th


def thumb_over(th: list[np.ndarray], fl: list[list[np.ndarray]], states: str, r: Rng) -> list[np.ndarray]:
    """The thumb laid across the outside of the first folded fingers, its tip on their middle phalanges (the
    usual fist: real fists have the thumb tip right at the index PIP joint)."""
    k = states.index("f")
    nxt = k + 1 if k + 1 < len(states) and states[k + 1] == "f" else k
    u = r.uniform(0, 0.8)
    a = fl[k][1] + r.uniform(0, 0.6) * (fl[k][2] - fl[k][1])
    b = fl[nxt][1] + r.uniform(0, 0.6) * (fl[nxt][2] - fl[nxt][1])
    target = (1 - u) * a + u * b + np.array([0.0, 0.0, r.uniform(0.05, 0.15)])
    return touching(th, target, r)


# -- poses: (thumb, [index, middle, ring, pinky]) -------------------------------------------------------
def _pose(r: Rng, s: np.ndarray, states: str, thumb_kind: str, touch: int = 0) -> np.ndarray:
    kinds = {"e": ext, "f": fold, "h": half, "c": claw, "p": point}
    spread = r.uniform(-3, 8)  # how far this hand fans its straight fingers
    fl = [finger(k + 1, kinds[c](r), r.uniform(-5, 5) + (spread * (k - 1.5) if c == "e" else
                                                          -SPLAY[k + 1] * r.uniform(0.6, 1.2) - r.uniform(0, 15)), s)
          for k, c in enumerate(states)]
    th = {"e": thumb_ext, "f": thumb_fold, "u": thumb_up, "a": thumb_across, "g": thumb_gun}[thumb_kind](r, s)
    if touch:
        th = touching(th, fl[touch - 1][-1], r)
    elif thumb_kind == "f" and "f" in states and r.random() < 0.6:
        th = thumb_over(th, fl, states, r)
    return assemble(th, fl)


def _ok(r: Rng, s: np.ndarray) -> np.ndarray:
    idx = finger(1, (r.uniform(25, 55), r.uniform(45, 80), r.uniform(20, 45)), r.uniform(-5, 5), s)
    others = [finger(k, ext(r), r.uniform(-5, 10) + 5 * (k - 2), s) for k in (2, 3, 4)]
    th = touching(thumb(r.uniform(20, 45), r.uniform(30, 55), (20, 20), s), idx[-1], r)
    return assemble(th, [idx, *others])


def _pinch(r: Rng, s: np.ndarray) -> np.ndarray:
    idx = finger(1, (r.uniform(20, 55), r.uniform(30, 80), r.uniform(10, 45)), 0, s)
    # the other fingers half bent (a pinch with them folded is a fist with the thumb on the index)
    others = [finger(k, half(r), -SPLAY[k] * r.uniform(0.3, 0.8), s) for k in (2, 3, 4)]
    th = touching(thumb(r.uniform(20, 45), r.uniform(20, 50), (10, 10), s), idx[-1], r)
    return assemble(th, [idx, *others])


POSES: dict[str, Callable[[Rng, np.ndarray], np.ndarray]] = {
    "open_palm": lambda r, s: _pose(r, s, "eeee", "e"),
    "fist": lambda r, s: _pose(r, s, "ffff", "f"),
    "pointing": lambda r, s: _pose(r, s, "pfff", "f" if r.random() < 0.75 else "e"),
    "thumbs_up": lambda r, s: _pose(r, s, "ffff", "u"),
    "thumbs_down": lambda r, s: _pose(r, s, "ffff", "u"),
    "victory": lambda r, s: _pose(r, s, "eeff", "f"),
    "ok": _ok,
}
NONE_POSES: dict[str, Callable[[Rng, np.ndarray], np.ndarray]] = {
    "three": lambda r, s: _pose(r, s, "eeef", "f") if r.random() < 0.5 else _pose(r, s, "eeff", "e"),
    "four": lambda r, s: _pose(r, s, "eeee", "a"),  # thumb across the palm (alongside is an open palm)
    "rock": lambda r, s: _pose(r, s, "effe", "f" if r.random() < 0.5 else "e"),
    "call": lambda r, s: _pose(r, s, "fffe", "e"),
    "gun": lambda r, s: _pose(r, s, "efff", "g"),
    # "pinch": _pinch,  # left out: real fists (thumb tip on the index) were its nearest neighbours
    "middle": lambda r, s: _pose(r, s, "feff", "f"),
    "pinky": lambda r, s: _pose(r, s, "fffe", "f"),
    # "claw" (all fingers half-bent) is left out: real loose fists look the same in many views
    # "claw": lambda r, s: _pose(r, s, "cccc", "e" if r.random() < 0.5 else "f"),
    # left out: "touch" (ASL 6-8) and "ring finger up" made real loose fists read as ``none``
    "spock": lambda r, s: _pose(r, s, "eeff", "e"),
}


def _view(r: Rng, label: str) -> np.ndarray:
    u = r.random()
    pitch = D(r.uniform(-60, 60))
    if label in ("thumbs_up", "thumbs_down") and u < 0.35:
        yaw = D(r.choice([-1, 1]) * r.uniform(45, 105))  # palm facing sideways, seen from the palm or back
    elif label in ("thumbs_up", "thumbs_down") and u < 0.7:
        # knuckles toward the camera: the fist seen end-on, knuckle row upright under the thumb
        yaw = D(r.uniform(-30, 30) + (180 if r.random() < 0.3 else 0))
        pitch = D(r.choice([-1, 1]) * r.uniform(40, 80))
    else:
        yaw = D(r.uniform(-80, 80) + (180 if r.random() < 0.3 else 0))
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


def render(pts3: np.ndarray, r: Rng, label: str) -> np.ndarray:
    """Project with a random view and roll into image coordinates (y down), with noise and mirroring."""
    p = pts3 @ _view(r, label).T
    img = np.stack([p[:, 0], -p[:, 1]], axis=1)
    if r.random() < 0.5:
        img[:, 0] *= -1
    if label in ("thumbs_up", "thumbs_down"):
        d = img[4] - img[2]
        want = -np.pi / 2 if label == "thumbs_up" else np.pi / 2
        roll = want - np.arctan2(d[1], d[0]) + D(r.normal(0, 18))
    elif label == "pointing" or r.random() < 0.35:
        roll = r.uniform(-np.pi, np.pi)
    else:
        roll = D(r.normal(0, 30))
    c, s = np.cos(roll), np.sin(roll)
    img = img @ np.array([[c, -s], [s, c]]).T
    img += r.normal(0, r.uniform(0.005, 0.025), img.shape)
    return (img * r.uniform(50, 200) + r.uniform(0, 400, 2)).astype(np.float32)


def _clear_thumb(img: np.ndarray, label: str) -> bool:
    """Thumbs-up/down as people read them: the thumb tip is the top (bottom) point and clearly sticks out."""
    y = img[:, 1] if label == "thumbs_down" else -img[:, 1]
    extent = float(np.ptp(img, axis=0).max())
    others = np.delete(y, [3, 4])
    return bool(y[4] >= others.max() + 0.25 * extent and np.linalg.norm(img[4] - img[2]) >= 0.3 * extent)


def sample(label: str, r: Rng, none_kind: str | None = None) -> np.ndarray:
    s = np.concatenate([r.uniform(0.9, 1.1, 5), [r.uniform(0.85, 1.2), r.uniform(0.0, 1.5)]])
    pose = NONE_POSES[none_kind] if none_kind else POSES[label]
    for _ in range(30):
        img = render(pose(r, s), r, label)
        if label not in ("thumbs_up", "thumbs_down") or _clear_thumb(img, label):
            break
    return img


def dataset(n_per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Synthetic landmarks (N, 21, 2) and labels; ``none`` gets as many samples as two classes."""
    r = np.random.default_rng(seed)
    xs, ys = [], []
    for label in POSES:
        for _ in range(n_per_class):
            xs.append(sample(label, r))
            ys.append(label)
    kinds = list(NONE_POSES)
    for i in range(2 * n_per_class):
        xs.append(sample("none", r, kinds[i % len(kinds)]))
        ys.append("none")
    return np.stack(xs), ys
