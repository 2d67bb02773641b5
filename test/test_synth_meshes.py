"""Triangle meshes: OBJ loading, decimation, Moller-Trumbore rendering, YCB scenes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from nova3r_ros.synth import SynthConfig, generate_window
from nova3r_ros.synth.generate import build_scene
from nova3r_ros.synth.meshes import MeshLibrary, decimate, load_mesh, read_obj
from nova3r_ros.synth.render import render
from nova3r_ros.synth.rigs import intrinsics, look_at
from nova3r_ros.synth.sampling import sample_surface, scene_key
from nova3r_ros.synth.scenes import collate, make_spec

YCB = Path("/work/shared/data/meshes")
needs_ycb = pytest.mark.skipif(not (YCB / "ycb_crackerbox.obj").is_file(),
                               reason=f"YCB meshes not found in {YCB}")  # fmt: skip


def box_triangles(h, pos):
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [(a, b, c) for a, b, c, d in quads] + [(a, c, d) for a, b, c, d in quads]
    return (corners * h + pos)[np.array(faces)]


def _render(spec, eye, target, W=96, H=72):
    K = torch.tensor(intrinsics([60.0], W, H)[None])
    T = torch.tensor(look_at(np.array([eye], float), np.array([target], float))[None])
    return render(collate([spec]), K, T, H, W)


def test_triangle_box_renders_like_the_analytic_box():
    h, pos = np.array([0.1, 0.15, 0.05]), np.array([0.02, -0.01, 0.05])
    prim = make_spec([dict(kind="box", pos=pos, params=h, obj_id=5)])
    tris = make_spec([dict(kind="mesh", pos=pos, tris=box_triangles(h, pos), obj_id=5)])
    for eye in [(0.6, 0.3, 0.4), (-0.3, 0.5, 0.2), (0.05, 0.02, 0.8)]:
        a, b = _render(prim, eye, pos), _render(tris, eye, pos)
        assert (a["ids"] == 5).sum() > 500
        same = (a["ids"] == b["ids"]).float().mean()
        assert same > 0.998  # at most a few pixels on the edges differ
        both = (a["ids"] == 5) & (b["ids"] == 5)
        torch.testing.assert_close(a["depth"][both], b["depth"][both], atol=2e-6, rtol=1e-5)


def test_single_triangle_hit_point():
    tri = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    spec = make_spec([dict(kind="mesh", pos=(0, 0, 0), tris=tri, obj_id=3)])
    out = _render(spec, (0.2, 0.2, 2.0), (0.2, 0.2, 0.0), W=33, H=33)
    assert out["ids"][0, 0, 16, 16] == 3
    assert float(out["depth"][0, 0, 16, 16]) == pytest.approx(2.0, abs=1e-6)


def test_decimation_keeps_shape_and_budget():
    v, f = read_obj(YCB / "ycb_masterchefcan.obj") if YCB.is_dir() else (None, None)
    if v is None:
        pytest.skip(f"YCB meshes not found in {YCB}")
    v2, f2 = decimate(v, f, 500)
    assert len(f2) <= 500 and len(f2) > 100
    np.testing.assert_allclose(v2.min(0), v.min(0), atol=0.01)
    np.testing.assert_allclose(v2.max(0), v.max(0), atol=0.01)


@needs_ycb
def test_ycb_mesh_loads_renders_and_samples():
    mesh = load_mesh(YCB / "ycb_crackerbox.obj", max_faces=2000)
    assert len(mesh.faces) <= 2000 and mesh.vertices[:, 2].min() == pytest.approx(0.0)
    assert np.abs(mesh.vertices).max() <= 1.0 + 1e-9
    tris = mesh.vertices[mesh.faces] * 0.15
    table = dict(kind="rect", pos=(0, 0, 0), params=[1, 0, 0, 0, 1, 0, 0.5, 0.5], obj_id=1)
    spec = make_spec([table, dict(kind="mesh", pos=(0, 0, 0), tris=tris, obj_id=2)])
    out = _render(spec, (0.4, 0.3, 0.35), (0, 0, 0.07))
    assert (out["ids"] == 2).sum() > 300
    pts = sample_surface(collate([spec]), 20000, torch.tensor([scene_key(0)]))[0].numpy()
    obj = pts[pts[:, 2] > 1e-6]
    assert obj[:, 2].max() <= 0.15 + 1e-6 and len(obj) > 500


@needs_ycb
def test_mesh_library_names_and_generated_scene():
    lib = MeshLibrary(YCB, exclude=("ycb_banana",))
    assert "ycb_banana" not in lib.names and len(lib) == 5
    with pytest.raises(ValueError, match="not in"):
        MeshLibrary(YCB, names=("ycb_teapot",))
    cfg = SynthConfig(mesh_dir=str(YCB), mesh_names=("ycb_gelatinbox",), mesh_prob=1.0,
                      n_objects=(3, 3), height=48, width=64, n_gt_points=4000)  # fmt: skip
    spec, _, _ = build_scene(4, cfg)
    assert [o["params"] for o in spec.objects] == ["ycb_gelatinbox"] * len(spec.objects)
    for m in spec.meshes:
        assert m["tris"][..., 2].min() == pytest.approx(0.0, abs=1e-9)
    win, gt = generate_window(4, cfg)
    assert len(win) == 4 and gt.points.shape == (4000, 3) and gt.visible.any()
