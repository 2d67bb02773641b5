"""Procedural object shapes and deformed meshes: valid meshes, in scenes, densely sampled."""

from pathlib import Path

import numpy as np
import pytest
import torch

from nova3r_ros.eval.metrics import nn_distances
from nova3r_ros.synth.config import SynthConfig
from nova3r_ros.synth.generate import build_scene, mesh_library
from nova3r_ros.synth.meshes import MeshLibrary
from nova3r_ros.synth.procedural import SHAPES, ShapeSource, deform, draw_mesh
from nova3r_ros.synth.render import render
from nova3r_ros.synth.sampling import sample_surface, scene_key
from nova3r_ros.synth.scenes import collate
from nova3r_ros.synth.training_mix import training_config

MESHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda f: f.__name__)
def test_shapes_are_normalised_meshes_with_area(shape):
    rng = np.random.default_rng(1)
    for _ in range(10):
        m = shape(rng)
        v, f = m.vertices, m.faces
        assert v[:, 2].min() == pytest.approx(0.0, abs=1e-9)
        assert (v.max(0) - v.min(0)).max() == pytest.approx(1.0)
        assert f.min() >= 0 and f.max() < len(v)
        area = 0.5 * np.linalg.norm(
            np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1
        )
        assert area.sum() > 0.3  # a solid of extent 1, not a sliver


def test_deform_changes_shape_keeps_normalisation():
    rng = np.random.default_rng(2)
    v = SHAPES[0](rng).vertices
    w = deform(rng, v)
    assert w.shape == v.shape and not np.allclose(w, v)
    assert (w.max(0) - w.min(0)).max() == pytest.approx(1.0)


def test_shape_source_draws_deterministically_and_a_library_alone_as_before():
    src = ShapeSource(None, 0.0, 0.0)  # no library: procedural only, whatever the prob
    a = [draw_mesh(src, np.random.default_rng(5)).vertices for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    assert draw_mesh(src, np.random.default_rng(5)).name in {"superquadric", "extrusion", "union"}
    if MESHES.is_dir():
        lib = MeshLibrary(MESHES, max_faces=300)
        rng1, rng2 = np.random.default_rng(9), np.random.default_rng(9)
        assert draw_mesh(lib, rng1) is lib.meshes[int(rng2.integers(len(lib)))]
        assert rng1.random() == rng2.random()  # the same stream consumed
    with pytest.raises(ValueError, match="procedural_prob"):
        SynthConfig(procedural_prob=1.5)


def test_training_mix_scenes_hold_procedural_meshes_and_gt_covers_their_depth():
    cfg = training_config(np.random.default_rng(0), 2, 48, 64, family="clutter")
    assert cfg.procedural_prob > 0 and isinstance(mesh_library(cfg), ShapeSource)
    found = 0
    for seed in range(6):
        spec, K, T = build_scene(seed, cfg)
        found += len(spec.meshes)
        if not spec.meshes:
            continue
        scenes = collate([spec])
        gt = sample_surface(scenes, 400_000, torch.tensor([scene_key(seed)]))[0].numpy()
        Kt, Tt = torch.tensor(K[None]).float(), torch.tensor(T[None]).float()
        depth = render(scenes, Kt, Tt, 48, 64)["depth"][0].numpy()
        pts = []
        for v in range(len(depth)):
            rows, cols = np.nonzero(depth[v] > 0)
            z = depth[v][rows, cols]
            cam = np.stack([(cols - K[v, 0, 2]) / K[v, 0, 0] * z,
                            (rows - K[v, 1, 2]) / K[v, 1, 1] * z, z], 1)  # fmt: skip
            pts.append(cam @ T[v, :3, :3].T + T[v, :3, 3])
        assert np.mean(nn_distances(np.concatenate(pts), gt) < 0.01) >= 0.98
    assert found > 0
