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


def test_bad_voxel_options_are_refused():
    for bad in (dict(voxel_far_m=-0.1), dict(voxel_far_m=1.5), dict(voxel_min_probability=1.2),
                dict(voxel_min_probability=float("nan"))):  # fmt: skip
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
