"""The node's services (std_srvs/Trigger): ``~/reset`` and ``~/save``.

``~/reset`` clears the occupancy map, the keyframes and the world anchoring (now,
or before the next window when one is running) and publishes an empty latched map;
``~/save`` writes ``cloud.ply``, ``map.pgm`` and ``map.yaml`` of the latest window to
``save_directory``. Both run on the executor thread and take ``node`` (the
:class:`~nova3r_ros.ros.node.ReconstructionNode`).
"""

from __future__ import annotations

from nova3r_ros.ros.save import save_result


def reset_service(node, request, response):
    """``~/reset``: clear the map, the keyframes and the world anchoring."""
    if node.processor is None:
        response.success, response.message = False, f"node is {node.state}"
        return response
    now = node.processor.reset()
    if node.keyframes is not None:
        node.keyframes.clear()
    for inp in node.inputs:
        inp.reset_stamps()
    with node._lock:
        node.latest = None
    if node.state == "active":
        stamp, res = node.get_clock().now().nanoseconds, node.processor.map.voxel_size
        node.outputs.clear_map(node.config["world_frame"], stamp, res)
    when = "now" if now else "before the next window"
    response.success, response.message = True, f"map and world anchoring cleared ({when})"
    return response


def save_service(node, request, response):
    """``~/save``: write the latest cloud and map to ``save_directory``."""
    with node._lock:
        result = node.latest
    if result is None:
        response.success, response.message = False, "nothing reconstructed yet"
        return response
    folder = node.config["save_directory"]
    grid = result.grid if result.grid is not None and result.grid.data.size else None
    try:
        written = save_result(folder, result, grid)
    except OSError as exc:
        response.success, response.message = False, f"cannot write to {folder}: {exc}"
        return response
    note = "" if grid is not None else " (no grid: normalised scale or empty map)"
    response.success = True
    response.message = "wrote " + ", ".join(str(p) for p in written) + note
    node.get_logger().info(response.message)
    return response
