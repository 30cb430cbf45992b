#!/usr/bin/env bash
# Reproduces the accuracy numbers of WORKSPACE.md ("Results"): trains every
# set-up whose data is present from its flagfile in data/, evaluates it on the
# test split and prints a table (model, dataset, epochs, test accuracy,
# training time, training examples/sec).
#
#   scripts/reproduce_accuracy.sh                  # every set-up, one after another
#   scripts/reproduce_accuracy.sh catdog fashion_lenet5_bn   # only these
#
# Data is read in place from $TF1CNN_SHARED_DATA (default: ../shared/data next
# to the checkout): fashion_mnist/ (the four IDX files), cifar10/
# (cifar-10-batches-py/), cifar100/ (cifar-100-python/) and catdog/
# ({train,test}/{cat,dog}/). A set-up whose data folder is missing is skipped
# and listed as such. Runs go to runs/reproduce/<set-up>/ (emptied first, so
# every run starts from scratch); logs to runs/reproduce/<set-up>/*.log.
# The interpreter is $TF1CNN_PYTHON, default .venv/bin/python (`make install`
# creates it; python3 when it is missing).
#
# Set-ups run one at a time; on 2 CPU cores the whole list takes about
# 45 minutes: Inception on Fashion-MNIST about 21, the CIFAR-10 bn_cnn about
# 10, the others 2 to 6 each.
# Not run by CI (CI runs only the cat/dog LeNet-5, see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED_DATA="${TF1CNN_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
PYTHON="${TF1CNN_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
OUT_ROOT=runs/reproduce

# set-up name | flagfile | data folder under $SHARED_DATA | train script
SETUPS=(
  "fashion_inception|data/fashion_inception.flags|fashion_mnist|scripts/train.py"
  "fashion_lenet5_bn|data/fashion_lenet5_bn.flags|fashion_mnist|scripts/train.py"
  "catdog|data/catdog.flags|catdog|scripts/train_catdog.py"
  "cifar10_bn_cnn|data/cifar10_bn_cnn.flags|cifar10|scripts/train.py"
  "cifar10_cifar_cnn|data/cifar10_cifar_cnn.flags|cifar10|scripts/train.py"
  "cifar100_cifar_cnn|data/cifar100_cifar_cnn.flags|cifar100|scripts/train.py"
)

wanted=("$@")
is_wanted() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local w
  for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

if [ ${#wanted[@]} -gt 0 ]; then
  for w in "${wanted[@]}"; do
    found=0
    for s in "${SETUPS[@]}"; do [ "${s%%|*}" = "$w" ] && found=1; done
    if [ $found -eq 0 ]; then
      echo "error: unknown set-up '$w'; set-ups: $(for s in "${SETUPS[@]}"; do printf '%s ' "${s%%|*}"; done)" >&2
      exit 2
    fi
  done
fi

mkdir -p "$OUT_ROOT"
RESULTS="$OUT_ROOT/results.tsv"
: > "$RESULTS"

for setup in "${SETUPS[@]}"; do
  IFS='|' read -r name flagfile data_sub train_script <<< "$setup"
  is_wanted "$name" || continue
  data_dir="$SHARED_DATA/$data_sub"
  run_dir="$OUT_ROOT/$name"
  if [ ! -d "$data_dir" ]; then
    echo "== $name: skipped, no data at $data_dir"
    printf '%s\t%s\tskipped\n' "$name" "$flagfile" >> "$RESULTS"
    continue
  fi
  rm -rf "$run_dir"
  mkdir -p "$run_dir"
  eval_script="${train_script/train/eval}"
  echo "== $name: $PYTHON $train_script --flagfile=$flagfile --data_dir=$data_dir --train_dir=$run_dir"
  echo "   (progress: tail -f $run_dir/train.log)"
  start=$(date +%s)
  if ! "$PYTHON" "$train_script" --flagfile="$flagfile" --data_dir="$data_dir" \
      --train_dir="$run_dir" > "$run_dir/train.log" 2>&1; then
    tail -n 5 "$run_dir/train.log"
    echo "== $name: training failed (see $run_dir/train.log)"
    printf '%s\t%s\tfailed\n' "$name" "$flagfile" >> "$RESULTS"
    continue
  fi
  train_seconds=$(( $(date +%s) - start ))
  grep 'examples/sec' "$run_dir/train.log" | tail -n 2 || true
  echo "== $name: trained in ${train_seconds} s; evaluating"
  if ! "$PYTHON" "$eval_script" --flagfile="$flagfile" --data_dir="$data_dir" \
      --train_dir="$run_dir" --metrics_json="$run_dir/metrics.json" \
      > "$run_dir/eval.log" 2>&1; then
    echo "== $name: evaluation failed (see $run_dir/eval.log)"
    printf '%s\t%s\tfailed\n' "$name" "$flagfile" >> "$RESULTS"
    continue
  fi
  grep -v -e '^[IWE][0-9]\{4\} ' -e '^WARNING: All log messages' "$run_dir/eval.log" || true
  printf '%s\t%s\tok\t%s\n' "$name" "$flagfile" "$train_seconds" >> "$RESULTS"
done

"$PYTHON" - "$RESULTS" "$OUT_ROOT" <<'PY'
import json
import os
import re
import sys

results, out_root = sys.argv[1], sys.argv[2]


def flag_value(flagfile, name):
  value = None
  with open(flagfile) as f:
    for line in f:
      line = line.strip()
      if line.startswith(f'--{name}='):
        value = line.split('=', 1)[1]
  return value


rows = []
for line in open(results):
  fields = line.rstrip('\n').split('\t')
  name, flagfile, status = fields[:3]
  model = flag_value(flagfile, 'model') or '?'
  dataset = flag_value(flagfile, 'dataset') or '?'
  epochs = flag_value(flagfile, 'num_epochs') or '-'
  if status != 'ok':
    rows.append((name, model, dataset, epochs, status, '-', '-', '-'))
    continue
  seconds = int(fields[3])
  run_dir = os.path.join(out_root, name)
  metrics = json.load(open(os.path.join(run_dir, 'metrics.json')))
  rate = '-'
  for log_line in open(os.path.join(run_dir, 'train.log')):
    match = re.search(r'trained to step \d+: .*?([\d.]+) examples/sec', log_line)
    if match:
      rate = f'{float(match.group(1)):.0f}'
  rows.append((name, model, dataset, epochs, f'{metrics["accuracy"]:.4f}',
               str(metrics['num_examples']),
               f'{seconds // 60}:{seconds % 60:02d}', rate))

header = ('set-up', 'model', 'dataset', 'epochs', 'test accuracy',
          'test images', 'training time', 'examples/sec')
print()
print('| ' + ' | '.join(header) + ' |')
print('|' + '|'.join('---' for _ in header) + '|')
for row in rows:
  print('| ' + ' | '.join(row) + ' |')
PY
