"""Lifecycle of the reconstruction node through its lifecycle services (real rclpy, loopback)."""

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger
from test_node_support import Harness

from nova3r_ros.ros.node import FAILURE, SUCCESS, ReconstructionNode


@pytest.fixture
def ros():
    h = Harness()
    yield h
    h.close()


def _call(h, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout), f"{client.srv_name} not available"
    future = client.call_async(request)
    assert h.spin_until(future.done, timeout), f"{client.srv_name} did not answer"
    return future.result()


def test_transitions_through_the_lifecycle_services(ros):
    node = ros.add(
        ReconstructionNode(
            context=ros.context, parameter_overrides=[Parameter("backend", value="depth")]
        )
    )
    probe = ros.node("probe")
    name = node.get_name()
    change = probe.create_client(ChangeState, f"/{name}/change_state")
    get = probe.create_client(GetState, f"/{name}/get_state")

    def transition(tid):
        return _call(ros, change, ChangeState.Request(transition=Transition(id=tid))).success

    def state():
        return _call(ros, get, GetState.Request()).current_state.label

    assert state() == "unconfigured"
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert state() == "inactive"
    reset = probe.create_client(Trigger, f"/{name}/reset")
    assert _call(ros, reset, Trigger.Request()).success  # services exist once configured
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert state() == "active"
    assert node.worker is not None and node.worker.alive
    assert len(node.inputs) == 1  # cam0
    worker = node.worker
    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert state() == "inactive"
    assert not worker.alive and node.worker is None and node.inputs == []
    assert transition(Transition.TRANSITION_CLEANUP)
    assert state() == "unconfigured"
    assert node.outputs is None and node.processor is None
    assert transition(Transition.TRANSITION_CONFIGURE)  # and again
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert state() == "active"
    assert transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert state() == "finalized"


@pytest.mark.parametrize("kind", ["missing", "mismatched"])
def test_model_backend_without_weights_stays_unconfigured(ros, tmp_path, kind):
    missing = str(tmp_path / "no_such_checkpoint")
    if kind == "mismatched":  # a directory, but not a checkpoint of this model
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "config.json").write_text('{"hidden": 7}')
        (tmp_path / "other" / "model.safetensors").write_bytes(b"not safetensors")
        missing = str(tmp_path / "other")
    node = ros.add(ReconstructionNode(
        context=ros.context,
        parameter_overrides=[
            Parameter("backend", value="model"),
            Parameter("checkpoint", value=missing),
            Parameter("device", value="cpu"),
        ],
    ))  # fmt: skip
    assert node.trigger_configure() == FAILURE
    assert node.state == "unconfigured"
    assert "configure failed" in node.last_error
    assert missing in node.last_error or "model" in node.last_error
    assert node.outputs is None and node.backend is None
    # Switching to the depth backend then configures fine: the failure left nothing behind.
    node.set_parameters([Parameter("backend", value="depth")])
    assert node.trigger_configure() == SUCCESS
    assert node.trigger_activate() == SUCCESS
    assert node.trigger_deactivate() == SUCCESS
    assert node.trigger_cleanup() == SUCCESS
    assert node.state == "unconfigured"
