"""The programs: `tf1cnn-train`, `tf1cnn-eval`, `tf1cnn-export`, ...

Each module here is one program: it defines the flag groups it uses
(`tf1cnn.flags`), turns the parsed flags into a config (`tf1cnn.config`),
calls the library and prints the result. `scripts/*.py` in a checkout and
the console entry points of an installed package both call `main()`.
"""

import functools

from tf1cnn import flags as tf1cnn_flags
from tf1cnn import runtime


def run(program, groups, doc, positional=False, **defaults):
  """Defines `groups`, parses argv and runs `program(argv)` as absl main.

  Args:
    program: `fn(argv)`; argv[0] is the program name.
    groups: flag groups (see `tf1cnn.flags.GROUPS`).
    doc: the program's usage text, shown by --help.
    positional: the program takes positional arguments (files).
    **defaults: flag defaults (e.g. model='lenet5').
  """
  tf1cnn_flags.define(groups, **defaults)

  def _main(argv):
    if not positional and len(argv) > 1:
      raise runtime.UserInputError(
          f'unexpected argument(s): {" ".join(argv[1:])} (flags start with '
          '--)')
    runtime.use_graph_mode()
    return program(argv)

  runtime.run_main(_main, flags_parser=functools.partial(
      tf1cnn_flags.parse, doc=doc))
