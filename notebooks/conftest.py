"""nbval runs the instructor's notebooks; the committed student edition (``notebooks/student``) is the same code with
its solutions stubbed, checked statically by tests/test_course.py (running it too would double the notebooks' time)."""

collect_ignore = ["student"]
