"""Checks that tf1cnn's dependencies have wheels on every supported platform.

    python scripts/check_platforms.py            # all platforms
    python scripts/check_platforms.py --python_version=3.12

For each dependency in pyproject.toml, and each requirement of the optional
extras named by `--extras` (default: `onnx`, `litert` and `test`, the ones
`make test` installs; not `gpu`, whose CUDA libraries exist for Linux
only), and each platform (linux x86_64 and aarch64, macOS arm64, Windows
amd64) it asks the package index, through
`pip index versions --platform ... --only-binary=:all:`, which versions
have a wheel there, and checks that one satisfies the pin. Nothing is
downloaded but the index pages. Prints a table; exits 1 when a dependency
has no wheel for a platform (`tensorflow-cpu==2.21.*` has none for macOS
arm64 and linux aarch64, which is why the project pins `tensorflow`).
"""

import os
import re
import subprocess
import sys

try:
  import tomllib  # pylint: disable=g-import-not-at-top
except ImportError:  # Python 3.10
  tomllib = None

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# pip matches --platform tags exactly: each platform lists the tags a
# current installer of it accepts (glibc 2.17-2.39, macOS 11-15).
_GLIBC = range(17, 40)
PLATFORMS = {
    'linux x86_64': ['manylinux2014_x86_64'] + [
        f'manylinux_2_{n}_x86_64' for n in _GLIBC],
    'linux aarch64': ['manylinux2014_aarch64'] + [
        f'manylinux_2_{n}_aarch64' for n in _GLIBC],
    'macOS arm64': [f'macosx_{n}_0_arm64' for n in range(11, 16)] + [
        f'macosx_{n}_0_universal2' for n in range(11, 16)],
    'Windows amd64': ['win_amd64'],
}

flags.DEFINE_string('python_version', '3.11', 'Python version of the wheels.')
flags.DEFINE_list('extra_requirements', [], 'More requirements to check, '
                  'e.g. tensorflow-cpu==2.21.* (a known failure).')
flags.DEFINE_list('extras', ['onnx', 'litert', 'openvino', 'test'], 'Optional extras of '
                  'pyproject.toml whose requirements are checked too.')


class IndexUnreachable(Exception):
  """pip could not ask the index (network), as opposed to 'no wheel'."""


def _dependencies(extras=()):
  """The project's requirements, then those of `extras`, each once."""
  path = os.path.join(_ROOT, 'pyproject.toml')
  if tomllib is not None:
    with open(path, 'rb') as f:
      project = tomllib.load(f)['project']
    groups = [project['dependencies']] + [
        project.get('optional-dependencies', {}).get(name) for name in extras]
  else:
    with open(path, encoding='utf-8') as f:
      text = f.read()
    groups = []
    for name in ('dependencies',) + tuple(extras):
      block = re.search(rf'^{re.escape(name)} = \[(.*?)\]\s*$', text,
                        re.MULTILINE | re.DOTALL)
      groups.append(re.findall(r'"([^"]+)"', block.group(1))
                    if block else None)
  requirements = []
  for name, group in zip(('dependencies',) + tuple(extras), groups):
    if group is None:
      raise SystemExit(f'--extras: pyproject.toml has no extra {name!r}')
    requirements += [r for r in group if r not in requirements]
  return requirements


def available_versions(name, platform_tags, python_version):
  """Versions of `name` with a wheel for one of `platform_tags`."""
  platform_args = []
  for tag in platform_tags:
    platform_args += ['--platform', tag]
  done = subprocess.run(
      [sys.executable, '-m', 'pip', 'index', 'versions', name] +
      platform_args + ['--python-version', python_version,
                       '--only-binary=:all:', '--disable-pip-version-check'],
      capture_output=True, text=True, timeout=120, check=False)
  if done.returncode and 'No matching distribution' not in done.stderr:
    raise IndexUnreachable(done.stderr.strip().splitlines()[-1:] or
                           ['pip index versions failed'])
  match = re.search(r'Available versions: (.*)', done.stdout)
  if not match:
    single = re.search(rf'^{re.escape(name)} \(([^)]+)\)', done.stdout,
                       re.IGNORECASE | re.MULTILINE)
    return [single.group(1)] if single else []
  return [v.strip() for v in match.group(1).split(',')]


def main(argv):
  del argv
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top
  requirements = (list(_dependencies(flags.FLAGS.extras))
                  + flags.FLAGS.extra_requirements)
  failures = 0
  for text in requirements:
    requirement = Requirement(text)
    row = []
    for label, platform in PLATFORMS.items():
      try:
        versions = available_versions(requirement.name, platform,
                                      flags.FLAGS.python_version)
      except IndexUnreachable as e:
        print(f'SKIPPED: the package index cannot be reached ({e}); '
              'nothing was checked', flush=True)
        return 0
      ok = [v for v in versions if requirement.specifier.contains(v)]
      row.append(f'{label}: {ok[0] if ok else "NONE"}')
      failures += not ok
    print(f'{text:<24} ' + '  '.join(row), flush=True)
  print(f'{"OK" if not failures else "FAIL"}: {failures} dependency/platform '
        'pair(s) without a wheel', flush=True)
  return 1 if failures else 0


if __name__ == '__main__':
  app.run(lambda argv: sys.exit(main(argv)))
