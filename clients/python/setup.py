"""Build hook: generates conceptsuite.v1 (the gRPC stubs) from ../../protos while building.

An editable install writes them into the source tree (conceptsuite/v1/, ignored by git); a
regular build writes them into the build folder, so they ship in the wheel. Everything else is in
pyproject.toml.
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_stubs  # noqa: E402


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            build_stubs.generate(build_stubs.HERE)
        else:
            build_stubs.generate(os.path.abspath(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithStubs})
