#!/usr/bin/python3
"""The layout of the house holds (docs/architecture.md), checked on the
objects of this build: no two files or folders call each other, core/ calls
nothing in server/, and no C file is over 600 lines (tools/check_layout.py)."""
import os
import subprocess

from harness import BUILD, ROOT, check, main


def test_no_circles_and_no_long_files():
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "check_layout.py"), BUILD],
                       capture_output=True, text=True)
    check(r.returncode == 0, "tools/check_layout.py %s:\n%s%s" % (BUILD, r.stdout, r.stderr))


def test_the_check_sees_a_circle():
    """The checker itself finds a circle (two files calling each other)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("check_layout", os.path.join(ROOT, "tools", "check_layout.py"))
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    check(layout.circles({"a.c": {"b.c"}, "b.c": {"a.c"}, "c.c": {"a.c"}}) == [["a.c", "b.c"]], "a <-> b found")
    check(layout.circles({"a.c": {"b.c"}, "b.c": {"c.c"}}) == [], "a chain is no circle")


if __name__ == "__main__":
    main(globals())
