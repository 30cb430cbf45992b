r"""Runs a parameter-server training cluster on this machine.

    python scripts/launch_local_cluster.py --num_ps=1 --num_workers=2 -- \
        --flagfile=data/catdog.flags --train_dir=runs/cluster --sync_replicas

Every flag after the launcher's own (`--num_ps`, `--num_workers`,
`--grace_secs`; an optional `--` separates them) goes to each task's
`scripts/train.py`, with `--ps_hosts`, `--worker_hosts` (free 127.0.0.1
ports), `--job_name` and `--task_index` added. Each task's output is shown
with a prefix (`[ps0]`, `[worker1]`). When a task fails, or on Ctrl-C /
SIGTERM, all of them are stopped and the launcher exits with the failure's
status (130 / 143 for a signal); the parameter servers are stopped when
every worker has finished (status 0).
"""

import argparse
import sys

from tf1cnn import cluster_launcher


def parse_args(argv):
  """`(launcher options, training flags)` of `argv` (without argv[0])."""
  parser = argparse.ArgumentParser(
      prog='launch_local_cluster', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--num_ps', type=int, default=1,
                      help='parameter servers (default 1)')
  parser.add_argument('--num_workers', type=int, default=2,
                      help='workers; worker 0 is the chief (default 2)')
  parser.add_argument('--grace_secs', type=float, default=30.0,
                      help='how long stopped tasks get before SIGKILL')
  if '--' in argv:
    split = argv.index('--')
    options, rest = parser.parse_known_args(argv[:split])
    rest += argv[split + 1:]
  else:
    options, rest = parser.parse_known_args(argv)
  if options.num_ps < 1 or options.num_workers < 1:
    parser.error('--num_ps and --num_workers must be at least 1')
  for flag in ('--ps_hosts', '--worker_hosts', '--job_name', '--task_index'):
    if any(a == flag or a.startswith(flag + '=') for a in rest):
      parser.error(f'{flag} is set by the launcher')
  return options, rest


def main(argv=None):
  """Runs the cluster; returns (and exits with) its status."""
  options, train_args = parse_args(sys.argv[1:] if argv is None else argv)
  status = cluster_launcher.launch(options.num_ps, options.num_workers,
                                   train_args, grace_secs=options.grace_secs)
  sys.exit(status)


if __name__ == '__main__':
  main()
