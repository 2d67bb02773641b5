"""ament_python setup for nova3r_ros (colcon build on ROS 2 Jazzy, or pip)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "nova3r_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench", "scripts"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        (
            "share/" + package_name + "/config",
            glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz"),
        ),
    ],
    package_data={
        package_name: ["model/checkpoints/*/*.json", "model/checkpoints/*/*.safetensors"]
    },
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="nova3r_ros developers",
    maintainer_email="nova3r-ros@example.com",
    description="Amodal multi-camera 3D reconstruction for ROS 2 (NOVA3R + Mix3R).",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "nova3r = nova3r_ros.cli:main",
            "reconstruction_node = nova3r_ros.ros.node:main",
            "nova3r_replay = nova3r_ros.ros.replay:main",
        ]
    },
)
