"""The voxel completion head's part of the published cloud (model.voxel_published).

Real tensors and a real saved head: on the floor-wall-box scene of
``test_voxel_completion`` a head that calls every cell occupied adds points only where
no view measured or saw free space, inside the region, away from what the cloud
already holds; none in the ``observed_only`` baseline or without a head. Through
``pipeline.reconstruct`` on two real Kinect frames the head given by directory is
loaded and its points reach the world-frame cloud.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from test_voxel_completion import CFG, DOWN, H, K, W, all_occupied, room_depth

from nova3r_ros.model.measurement import measure, region_depth
from nova3r_ros.model.observed_points import nearest
from nova3r_ros.model.published_cloud import PublishConfig, publish
from nova3r_ros.model.voxel_completion import VoxelConfig
from nova3r_ros.model.voxel_files import load_voxel_head, save_voxel_head
from nova3r_ros.model.voxel_published import snap_to_planes

DEV = Path(__file__).resolve().parents[2] / "shared/data/7scenes-redkitchen-dev"
RGB = torch.full((1, H, W, 3), 90, dtype=torch.uint8)


def saved_all_occupied(directory: Path, cfg: VoxelConfig = CFG, threshold: float = 0.5):
    """Save and reload :func:`all_occupied` (every cell occupied, probability 0.99966)."""
    save_voxel_head(directory, all_occupied(cfg), min_probability=threshold)
    return load_voxel_head(directory)


def _publish(head, **options):
    depth = room_depth()[None]
    pub = publish(None, None, depth, K[None], torch.eye(4)[None], RGB,
                  PublishConfig(**options), voxel_head=head, down=DOWN)  # fmt: skip
    return pub, depth


def test_voxel_points_complete_only_what_no_view_saw(tmp_path):
    head = saved_all_occupied(tmp_path / "v")
    pub, depth = _publish(head)
    n = pub.stats["voxel_points"]
    assert pub.stats["gated"] == 1 and n > 50
    vox = pub.points[pub.part("voxels")]
    assert vox.shape[0] == n and not pub.observed[pub.part("voxels")].any()
    assert (pub.confidence[pub.part("voxels")] > 0.99).all()
    m = measure(vox, depth, K[None], torch.eye(4)[None], depth > 0, region_depth(depth))
    assert not m.free.any() and not m.surface.any() and m.region.all()
    rest = torch.cat([pub.points[pub.part(p)] for p in ("observed", "planes", "hidden", "sides")])
    assert (nearest(vox, rest)[0][:, 0] > 0.05).all()
    farther, _ = _publish(head, voxel_far_m=0.15)  # 20 cm cells: centres >= 10 cm off
    kept = farther.points[farther.part("voxels")]
    assert 0 < kept.shape[0] < n and (nearest(kept, rest)[0][:, 0] > 0.15).all()
    picky, _ = _publish(head, voxel_min_probability=0.9999)
    assert picky.stats["voxel_points"] == 0


def test_no_voxel_points_in_the_baseline_or_without_a_head(tmp_path):
    head = saved_all_occupied(tmp_path / "v")
    baseline, _ = _publish(head, force_gate=True)
    none, _ = _publish(None)
    assert baseline.stats["voxel_points"] == 0 and none.stats["voxel_points"] == 0
    with_head, _ = _publish(head)
    for part in ("observed", "planes"):  # the head adds; it takes nothing away
        assert torch.equal(with_head.points[with_head.part(part)], none.points[none.part(part)])


def test_snap_to_planes_moves_only_the_points_near_a_plane():
    floor = (torch.tensor([0.0, -1.0, 0.0]), 1.2)  # y = 1.2 (optical frame: y down)
    wall = (torch.tensor([0.0, 0.0, -1.0]), 3.0)  # z = 3
    pts = torch.tensor([[0.0, 1.17, 1.0], [0.5, 1.0, 2.96], [0.2, 1.19, 2.98], [0.0, 0.5, 1.0]])
    out = snap_to_planes(pts, [floor, wall], 0.05)
    expected = torch.tensor([[0.0, 1.2, 1.0], [0.5, 1.0, 3.0], [0.2, 1.2, 2.98],
                             [0.0, 0.5, 1.0]])  # the nearest plane; the last too far  # fmt: skip
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(snap_to_planes(pts, [floor, wall], 0.0), pts)


def test_voxel_points_near_the_windows_planes_are_snapped_onto_them(tmp_path):
    head = saved_all_occupied(tmp_path / "v")
    loose, _ = _publish(head)
    snapped, depth = _publish(head, voxel_snap_m=0.1)
    assert snapped.stats["planes"] >= 2  # the floor and the wall

    def off_planes(pub) -> torch.Tensor:  # each voxel point's distance to floor or wall
        vox = pub.points[pub.part("voxels")]
        return torch.minimum((vox[:, 1] - 1.2).abs(), (vox[:, 2] - 3.0).abs())

    near = off_planes(loose)
    assert ((near > 0.005) & (near <= 0.09)).sum() > 10  # cell-accurate, not on the planes
    after = off_planes(snapped)
    assert after.numel() > 50 and ((after > 0.005) & (after <= 0.09)).sum() == 0
    vox = snapped.points[snapped.part("voxels")]
    m = measure(vox, depth, K[None], torch.eye(4)[None], depth > 0, region_depth(depth))
    assert not m.free.any() and not m.surface.any() and m.region.all()  # still the rules


def test_bad_voxel_options_are_refused():
    for bad in (dict(voxel_far_m=-0.1), dict(voxel_far_m=1.5), dict(voxel_min_probability=1.2),
                dict(voxel_min_probability=float("nan")), dict(voxel_snap_m=-0.01),
                dict(voxel_snap_m=0.5)):  # fmt: skip
        with pytest.raises(ValueError, match="voxel_"):
            PublishConfig(**bad)


@pytest.mark.skipif(not DEV.is_dir(), reason=f"{DEV} not present")
def test_reconstruct_loads_the_head_and_publishes_its_points_in_the_world(tmp_path):
    from nova3r_ros.pipeline import ModelBackendConfig, PipelineError, reconstruct
    from nova3r_ros.synth.sevenscenes import SevenScenesSequence

    cfg = VoxelConfig(cell_m=0.2, dims=(48, 32, 48), lower_m=(-4.8, -3.2, -0.4),
                      channels=(4, 8), input_width=80)  # fmt: skip
    saved_all_occupied(tmp_path / "v", cfg)
    window, _ = SevenScenesSequence(str(DEV)).window([60, 64], known_poses=True)
    base = dict(device="cpu", n_points=256, steps=2)
    on = reconstruct(window, "model", ModelBackendConfig(voxel_head=str(tmp_path / "v"), **base))
    off = reconstruct(window, "model", ModelBackendConfig(voxel_head="none", **base))
    assert on.stats["gated"] == 1 and on.stats["voxel_points"] > 100
    assert off.stats["voxel_points"] == 0
    assert len(on.points) == len(off.points) + on.stats["voxel_points"]
    T = np.asarray(window.views[0].T_world_cam)
    assert np.array_equal(on.points[: len(off.points)], off.points)
    new = on.points[len(off.points) :]  # the voxel part: last in a gated window
    cam = (new - T[:3, 3]) @ T[:3, :3]  # back in view 0's frame: in front of the camera
    assert (cam[:, 2] > 0).mean() > 0.9
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "voxel_head.json").write_text("{}")
    with pytest.raises(PipelineError, match="not a voxel completion head"):
        reconstruct(window, "model", ModelBackendConfig(voxel_head=str(tmp_path / "broken"),
                                                        **base))  # fmt: skip
