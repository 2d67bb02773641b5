"""Launch the nova3r_ros reconstruction lifecycle node, configured and activated.

Arguments:
    params_file: base parameters (default: <share>/config/reconstruct.yaml).
    specialization: a second parameters file loaded after the base, e.g.
        <share>/config/rgbd_rig.yaml or rgb_unposed.yaml ('' = none).
    namespace, node_name: where the node lives.
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
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    """Return the launch description (see the module docstring)."""
    share = get_package_share_directory("nova3r_ros")
    params_file = LaunchConfiguration("params_file")
    specialization = LaunchConfiguration("specialization")
    autostart = LaunchConfiguration("autostart")
    # An empty specialization must not become a parameters file: fall back to the base.
    second = PythonExpression(["'", specialization, "' or '", params_file, "'"])

    node = LifecycleNode(
        package="nova3r_ros",
        executable="reconstruction_node",
        name=LaunchConfiguration("node_name"),
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            params_file,
            second,
            {
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
            },
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    configure = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=lifecycle_msgs.msg.Transition.TRANSITION_CONFIGURE,
        ),
        condition=IfCondition(autostart),
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
        condition=IfCondition(autostart),
    )
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "reconstruct.yaml"),
            description="base parameters file",
        ),
        DeclareLaunchArgument(
            "specialization", default_value="",
            description="second parameters file (e.g. rgbd_rig.yaml, rgb_unposed.yaml)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
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
        DeclareLaunchArgument("node_name", default_value="nova3r_reconstruction"),
        DeclareLaunchArgument("autostart", default_value="true"),
        DeclareLaunchArgument("log_level", default_value="info"),
        SetEnvironmentVariable(
            "FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")
        ),
        activate_when_inactive,
        node,
        configure,
    ])  # fmt: skip
