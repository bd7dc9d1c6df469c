"""Only the C part of the build; everything else is in pyproject.toml.

vpsrescue/dump/_scan.c is the dump splitter's hot loop. sqltokens and repair fall back
to exact (slower) Python when it is not built.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vpsrescue.dump._scan",
            sources=["vpsrescue/dump/_scan.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
        )
    ]
)
