"""Launch the nova3r_ros reconstruction lifecycle node, configured and activated.

Arguments (``ros2 launch nova3r_ros reconstruct.launch.py --show-args`` lists them):
    params_file: base parameters, a path or a shipped config name (default:
        <share>/config/reconstruct.yaml).
    specialization: a second parameters file loaded after the base: a shipped
        config name (rgbd_rig, rgb_unposed, realsense, realsense_rig, usb_cam) or a
        path ('' = none). A value that is neither stops the launch with the list of
        shipped configs.
    cameras, use_depth, backend: override the files ('' = keep them); cameras is a
        comma-separated list.
    image_topic, info_topic, depth_topic: the topics of a single camera ('' = keep);
        relative names resolve in ``namespace``.
    namespace, node_name: where the node lives (inputs and outputs move together).
    device: the model backend's device, auto | cuda | cpu (overrides the files).
    use_sim_time: 'true' follows /clock (bag replay, simulation).
    dds_profile: Fast DDS XML profile, exported as FASTRTPS_DEFAULT_PROFILES_FILE
        (default <share>/config/fastdds_large_messages.xml; Jazzy's Fast DDS 2.14
        reads that variable) so multi-MB clouds cross processes.
    autostart: 'true' configures and then activates the node (event handlers).
    log_level: the node's log level.
"""

import os

import lifecycle_msgs.msg
from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue

from nova3r_ros.ros.launch_args import launch_overrides, resolve_params_file

OVERRIDES = ("cameras", "use_depth", "backend", "image_topic", "info_topic", "depth_topic")


def _node_and_handlers(context):
    """Resolve the parameter files and overrides, then return the node and its transitions."""
    config_dir = os.path.join(get_package_share_directory("nova3r_ros"), "config")

    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    base = resolve_params_file(value("params_file"), config_dir, "params_file")
    second = resolve_params_file(value("specialization"), config_dir, "specialization")
    files = [f for f in (base, second) if f]
    overrides = launch_overrides({k: value(k) for k in OVERRIDES}, files)
    node = LifecycleNode(
        package="nova3r_ros",
        executable="reconstruction_node",
        name=LaunchConfiguration("node_name"),
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            *files,
            {
                **overrides,
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
            },
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    autostart = IfCondition(LaunchConfiguration("autostart"))
    configure = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=lifecycle_msgs.msg.Transition.TRANSITION_CONFIGURE,
        ),
        condition=autostart,
    )
    activate_when_inactive = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node),
                        transition_id=lifecycle_msgs.msg.Transition.TRANSITION_ACTIVATE,
                    )
                )
            ],
        ),
        condition=autostart,
    )
    return [activate_when_inactive, node, configure]


def generate_launch_description():
    """Return the launch description (see the module docstring)."""
    share = get_package_share_directory("nova3r_ros")
    keep = "'' = keep the parameters files' value"
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "reconstruct.yaml"),
            description="base parameters: a file path or a shipped config name",
        ),
        DeclareLaunchArgument(
            "specialization", default_value="",
            description="second parameters file, loaded after params_file: a shipped config "
            "name (rgbd_rig, rgb_unposed, realsense, realsense_rig, usb_cam) or a path; "
            "'' = none",
        ),
        DeclareLaunchArgument(
            "cameras", default_value="",
            description=f"comma-separated camera names ({keep})",
        ),
        DeclareLaunchArgument(
            "use_depth", default_value="", choices=["", "true", "false"],
            description=f"subscribe to depth for every camera ({keep})",
        ),
        DeclareLaunchArgument(
            "backend", default_value="", choices=["", "model", "depth"],
            description=f"reconstruction backend ({keep})",
        ),
        DeclareLaunchArgument(
            "image_topic", default_value="",
            description=f"colour image topic of the single camera, relative to namespace ({keep})",
        ),
        DeclareLaunchArgument(
            "info_topic", default_value="",
            description=f"CameraInfo topic of the single camera ({keep})",
        ),
        DeclareLaunchArgument(
            "depth_topic", default_value="",
            description=f"depth topic of the single camera, registered to colour ({keep})",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="node namespace: relative input topics and every output move into it",
        ),
        DeclareLaunchArgument(
            "device", default_value="auto", choices=["auto", "cuda", "cpu"],
            description="model backend device (overrides the parameters files)",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", choices=["true", "false"],
            description="use /clock (bag replay, simulation)",
        ),
        DeclareLaunchArgument(
            "dds_profile",
            default_value=os.path.join(share, "config", "fastdds_large_messages.xml"),
            description="Fast DDS XML profile (FASTRTPS_DEFAULT_PROFILES_FILE)",
        ),
        DeclareLaunchArgument(
            "node_name", default_value="nova3r_reconstruction",
            description="name of the node (its outputs are ~/cloud, ~/occupancy, ...)",
        ),
        DeclareLaunchArgument(
            "autostart", default_value="true", choices=["true", "false"],
            description="configure and activate the node at once; false = leave it "
            "unconfigured for a lifecycle manager",
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info",
            choices=["debug", "info", "warn", "error", "fatal"],
            description="the node's log level",
        ),
        SetEnvironmentVariable(
            "FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")
        ),
        OpaqueFunction(function=_node_and_handlers),
    ])  # fmt: skip
