"""``python -m nova3r_ros.train``: run one training stage (see loop.py)."""

import argparse
import sys

from nova3r_ros.train.loop import TrainConfig, train


def main(argv=None) -> int:
    """Parse arguments and train."""
    p = argparse.ArgumentParser(prog="python -m nova3r_ros.train", description=__doc__)
    p.add_argument(
        "--stage",
        type=int,
        default=1,
        choices=(1, 2, 3),
        help="1 autoencoder, 2 image encoder (decoder frozen), 3 joint",
    )
    p.add_argument("--model", default="base", help="model config name (tiny, base)")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock training time")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--n-points", type=int, default=4096, help="target points per window")
    p.add_argument("--views", type=int, nargs="+", default=[1, 1, 2, 4])
    p.add_argument("--p-depth", type=float, default=0.5, help="probability of depth input")
    p.add_argument("--p-pose", type=float, default=0.2, help="probability of pose input")
    p.add_argument("--init", default=None, help="checkpoint directory to start from")
    p.add_argument("--out", default="ckpt", help="output directory (checkpoint + logs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mesh-dir", default=None)
    p.add_argument("--mesh-exclude", nargs="*", default=[], help="meshes held out of training")
    p.add_argument("--device", default="cuda")
    p.add_argument("--reuse", type=int, default=2, help="steps per generated batch")
    p.add_argument("--p-room", type=float, default=0.1, help="benchmark-style batches: rooms")
    p.add_argument("--p-robot", type=float, default=0.0,
                   help="share of batches from the robot mix (families, cameras)")  # fmt: skip
    p.add_argument("--p-sensor", type=float, default=0.0,
                   help="share of windows degraded by a depth-sensor/camera model")  # fmt: skip
    p.add_argument("--data-workers", type=int, default=-1,
                   help="scene-layout processes (-1: cores - 1 on CUDA, 0 on CPU)")  # fmt: skip
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="LR after warm-up: cosine to 10 %% of --lr, or constant")  # fmt: skip
    p.add_argument("--resume", default=None,
                   help="continue from a train_state directory (fp32 + AdamW)")  # fmt: skip
    p.add_argument("--save-state", action="store_true",
                   help="also write the full train_state to --out (for --resume)")  # fmt: skip
    p.add_argument(
        "--targets",
        choices=("frustum", "scene"),
        default="frustum",
        help="ground truth: the views' frustum region, or the whole scene",
    )
    p.add_argument("--val-every", type=float, default=0.0,
                   help="minutes between validations (0: none); best in OUT/best")  # fmt: skip
    p.add_argument("--val-7scenes", default=None,
                   help="7-Scenes dev folder scored in validation (never trained on)")  # fmt: skip
    p.add_argument("--val-windows", type=int, default=16, help="synthetic windows per set")
    p.add_argument("--gravity-frame", action="store_true",
                   help="train a levelled canonical frame (see --p-gravity)")  # fmt: skip
    p.add_argument("--p-gravity", type=float, default=0.8,
                   help="windows whose gravity is given (levelled frame only)")  # fmt: skip
    p.add_argument("--camera-weight", type=float, default=1.0,
                   help="weight of the camera (and focal) loss")  # fmt: skip
    p.add_argument("--camera-loss", choices=("mse", "angular"), default="mse",
                   help="rotation MSE, or chordal rotation + translation direction")  # fmt: skip
    p.add_argument("--val-criterion", choices=("f", "pose"), default="f",
                   help="best checkpoint by decoder F-scores or RGB-only head poses")  # fmt: skip
    a = p.parse_args(argv)
    cfg = TrainConfig(
        stage=a.stage, model=a.model, minutes=a.minutes, batch=a.batch, lr=a.lr,
        n_points=a.n_points, views=tuple(a.views), p_depth=a.p_depth, p_pose=a.p_pose,
        init=a.init, out=a.out, seed=a.seed, mesh_dir=a.mesh_dir,
        mesh_exclude=tuple(a.mesh_exclude), device=a.device, reuse=a.reuse, p_room=a.p_room,
        p_robot=a.p_robot, p_sensor=a.p_sensor, data_workers=a.data_workers,
        schedule=a.schedule, targets=a.targets, val_every=a.val_every,
        val_7scenes=a.val_7scenes, val_windows=a.val_windows, resume=a.resume,
        save_state=a.save_state, gravity_frame=a.gravity_frame, p_gravity=a.p_gravity,
        camera_weight=a.camera_weight, camera_loss=a.camera_loss, val_criterion=a.val_criterion,
    )  # fmt: skip
    train(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
