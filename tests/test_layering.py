"""The layer table of WORKSPACE.md holds for the code: who may import whom.

The table ("## Layering: which module may import which") is the single
source: this test parses it and checks every import of a `tf1cnn` module
written in `tf1cnn/**.py` and `scripts/*.py` against it, read with `ast`
(nothing of the package is imported here).

The table's grammar, kept small and strict:

* a row is `| <layer number> <title> | <modules> | <may import> |`;
* `<modules>` names entries in backticks: a module (`checkpoints`,
  `compat/tf_layers`) or a package with everything under it (`models/*`,
  `tf1cnn/cli/*`; a bare package name such as `compat/slim` in an
  allowance means the same); `scripts/*` is the checkout's `scripts/*.py`.
  An entry's modules import each other freely. Every entry must match a
  module, and every module must fall under one entry (the longest match);
* `` `a` (-> `b`, `c`) `` in `<modules>` lets `a` import `b` and `c`: a
  module of its own layer, or, inside a function only, a higher one (the
  start-up entry points import the library after `startup.prepare()`);
  other parenthesised notes in backticks (file suffixes) are prose;
* in `<may import>`, each `;`-separated part of the form
  `` `a`, `b` and `c` -> `d` `` is the same allowance for `a`, `b`, `c`;
  the rest of the column is prose.

Every other import must go to a lower layer. All violations are reported in
one failure message, `file:line: importer -> imported (layer i -> layer j)`.
"""

import ast
import dataclasses
import os
import re
import tempfile
import textwrap

import tensorflow as tf

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SECTION = '## Layering: which module may import which'
_PACKAGE = 'tf1cnn'


@dataclasses.dataclass(frozen=True)
class ImportEdge:
  """One import of a project module.

  Attributes:
    importer: dotted name of the importing module (`tf1cnn.training`).
    imported: dotted name of the imported module (`tf1cnn.run_spec`).
    path: the importing file, relative to the checkout.
    line: line number of the import statement.
    in_function: True when the statement is inside a function body.
  """
  importer: str
  imported: str
  path: str
  line: int
  in_function: bool


@dataclasses.dataclass
class TableEntry:
  """One backticked entry of the modules column.

  Attributes:
    name: the entry as written (`models/*`).
    prefix: its dotted module prefix (`tf1cnn.models`).
    layer: the row's layer number.
  """
  name: str
  prefix: str
  layer: int


@dataclasses.dataclass(frozen=True)
class Allowance:
  """One `importer -> imported` the table lists.

  Attributes:
    importer: a table name (an entry, or a module or package inside one).
    imported: a table name.
  """
  importer: str
  imported: str


class LayerTableError(ValueError):
  """The layer table cannot be read, or disagrees with the files present."""


def _prefix_of(name):
  """The dotted module prefix a table name stands for."""
  path = name[:-2] if name.endswith('/*') else name
  if path == 'scripts':
    return 'scripts'
  if path.startswith(_PACKAGE + '/'):
    path = path[len(_PACKAGE) + 1:]
  if not re.fullmatch(r'[a-z_][a-z0-9_]*(/[a-z_][a-z0-9_]*)*', path):
    raise LayerTableError(f'layer table: `{name}` is not a module name')
  return _PACKAGE + '.' + path.replace('/', '.')


def _covers(prefix, module):
  return module == prefix or module.startswith(prefix + '.')


def module_files(root):
  """Dotted module name -> file path (relative to `root`) of the checked files.

  Args:
    root: the checkout (holding `tf1cnn/` and, when present, `scripts/`).

  Returns:
    dict of every `tf1cnn/**.py` (package `__init__.py` files under the
    package's name) and every `scripts/*.py` (as `scripts.<name>`).
  """
  files = {}
  for folder, dirs, names in os.walk(os.path.join(root, _PACKAGE)):
    dirs[:] = sorted(d for d in dirs if d != '__pycache__')
    for name in sorted(names):
      if not name.endswith('.py'):
        continue
      rel = os.path.relpath(os.path.join(folder, name), root)
      parts = rel[:-3].split(os.sep)
      if parts[-1] == '__init__':
        parts = parts[:-1]
      files['.'.join(parts)] = rel
  scripts = os.path.join(root, 'scripts')
  if os.path.isdir(scripts):
    for name in sorted(os.listdir(scripts)):
      if name.endswith('.py'):
        files['scripts.' + name[:-3]] = os.path.join('scripts', name)
  return files


def collect_imports(root, module, rel_path, known_modules):
  """The project imports of one file, at module level and inside functions.

  `from P import n` is an import of `P.n` when that is a module, else of
  `P`; relative imports are resolved against the file's package.

  Args:
    root: the checkout.
    module: the file's dotted module name.
    rel_path: the file, relative to `root`.
    known_modules: every dotted module name of the project.

  Returns:
    list of ImportEdge, in source order.
  """
  with open(os.path.join(root, rel_path), encoding='utf-8') as f:
    tree = ast.parse(f.read(), rel_path)
  is_package = rel_path.endswith('__init__.py')
  package = module if is_package else module.rpartition('.')[0]
  edges = []

  def add(imported, node, in_function):
    if imported == _PACKAGE or imported.startswith(_PACKAGE + '.'):
      edges.append(ImportEdge(module, imported, rel_path, node.lineno,
                              in_function))

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inside = in_function or isinstance(
          child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
      if isinstance(child, ast.Import):
        for alias in child.names:
          add(alias.name, child, inside)
      elif isinstance(child, ast.ImportFrom):
        base = child.module or ''
        if child.level:
          parts = package.split('.')
          if child.level - 1 >= len(parts):
            raise LayerTableError(
                f'{rel_path}:{child.lineno}: relative import beyond the top')
          parts = parts[:len(parts) - (child.level - 1)]
          base = '.'.join(parts + ([base] if base else []))
        for alias in child.names:
          candidate = f'{base}.{alias.name}'
          add(candidate if candidate in known_modules else base, child,
              inside)
      visit(child, inside)

  visit(tree, False)
  return edges


def _layering_rows(markdown):
  """The table rows (lists of three cells) of the layering section."""
  start = markdown.find('\n' + _SECTION + '\n')
  if start < 0:
    raise LayerTableError(f'WORKSPACE.md: no section "{_SECTION}"')
  body = markdown[start + len(_SECTION) + 2:]
  end = re.search(r'^## ', body, re.M)
  body = body[:end.start()] if end else body
  rows = []
  for line in body.splitlines():
    if not line.startswith('|'):
      continue
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if cells[0] == 'layer' or set(''.join(cells)) <= set('-: '):
      continue
    if len(cells) != 3:
      raise LayerTableError(
          f'WORKSPACE.md layer table: row "{line[:60]}" has {len(cells)} '
          'cells, not 3')
    rows.append(cells)
  if not rows:
    raise LayerTableError('WORKSPACE.md: the layer table has no rows')
  return rows


def _backticked(text):
  return re.findall(r'`([^`]+)`', text)


def parse_layer_table(markdown):
  """The entries of the layer table and its allowances.

  Args:
    markdown: the text of WORKSPACE.md.

  Returns:
    (entries, allowances): dict entry name -> TableEntry, list of Allowance.

  Raises:
    LayerTableError: a malformed row, a repeated entry, or an allowance
      naming an entry the table does not list.
  """
  entries = {}
  grants = []  # (row, importer names, imported names)
  for layer_cell, modules_cell, may_import_cell in _layering_rows(markdown):
    number = re.match(r'(\d+)\s', layer_cell + ' ')
    if not number:
      raise LayerTableError(
          f'WORKSPACE.md layer table: "{layer_cell}" does not start with '
          'its layer number')
    layer = int(number.group(1))
    found = False
    for match in re.finditer(r'`([^`]+)`\s*(?:\(([^()]*)\))?', modules_cell):
      found = True
      name, note = match.group(1), match.group(2) or ''
      if name in entries:
        raise LayerTableError(
            f'WORKSPACE.md layer table: `{name}` is listed twice')
      entries[name] = TableEntry(name, _prefix_of(name), layer)
      if '->' in note:
        grants.append((layer_cell, [name],
                       _backticked(note.split('->', 1)[1])))
    if not found:
      raise LayerTableError(
          f'WORKSPACE.md layer table: row "{layer_cell}" lists no module')
    for part in may_import_cell.split(';'):
      if '->' in part:
        left, right = part.split('->', 1)
        grants.append((layer_cell, _backticked(left), _backticked(right)))
  for row, importers, imported in grants:
    if not importers or not imported:
      raise LayerTableError(
          f'WORKSPACE.md layer table, row "{row}": an "->" without '
          'backticked names on both sides')
    for name in importers:
      if not any(_covers(e.prefix, _prefix_of(name))
                 for e in entries.values()):
        raise LayerTableError(
            f'WORKSPACE.md layer table, row "{row}": `{name}` -> ... is in '
            'no module entry of the table')
    for name in imported:
      _prefix_of(name)  # well formed; what it matches is checked later
  allowances = [Allowance(importer, name) for _, importers, imported in grants
                for importer in importers for name in imported]
  return entries, allowances


def place_modules(entries, allowances, modules):
  """Each module's entry (its longest matching prefix).

  Args:
    entries: dict name -> TableEntry.
    allowances: list of Allowance.
    modules: the project's dotted module names.

  Returns:
    dict module -> TableEntry.

  Raises:
    LayerTableError: an entry or an allowance matching no module, or a
      module no entry covers (the package's own `__init__` excepted).
  """
  placed = {}
  unplaced = []
  for module in sorted(modules):
    if module == _PACKAGE:
      continue
    matching = [e for e in entries.values() if _covers(e.prefix, module)]
    if not matching:
      unplaced.append(module)
      continue
    placed[module] = max(matching, key=lambda e: len(e.prefix))
  problems = [
      f'`{m}` is in no row of the layer table (WORKSPACE.md): place it'
      for m in unplaced]
  for entry in entries.values():
    if not any(_covers(entry.prefix, m) for m in modules):
      problems.append(
          f'the layer table lists `{entry.name}`, which no file is')
  for allowance in allowances:
    for name in (allowance.importer, allowance.imported):
      if not any(_covers(_prefix_of(name), m) for m in modules):
        problems.append(
            f'the layer table lets `{allowance.importer}` import '
            f'`{allowance.imported}`: `{name}` is no file')
  if problems:
    raise LayerTableError('\n'.join(problems))
  return placed


def find_violations(edges, placed, allowances):
  """The imports the table forbids, as one line each.

  Args:
    edges: list of ImportEdge.
    placed: dict module -> TableEntry.
    allowances: list of Allowance.

  Returns:
    list of `file:line: importer -> imported (layer i -> layer j, ...)`.
  """
  lines = []
  for edge in edges:
    if edge.imported == _PACKAGE:
      continue  # the package itself: a version string, no imports
    source = placed.get(edge.importer)
    target = placed.get(edge.imported)
    if source is None:
      lines.append(f'{edge.path}:{edge.line}: {edge.importer} -> '
                   f'{edge.imported}: the package\'s `__init__.py` must '
                   'import nothing')
      continue
    if target is None:
      lines.append(f'{edge.path}:{edge.line}: {edge.importer} -> '
                   f'{edge.imported}: no such module')
      continue
    if source is target or target.layer < source.layer:
      continue
    granted = any(_covers(_prefix_of(a.importer), edge.importer) and
                  _covers(_prefix_of(a.imported), edge.imported)
                  for a in allowances)
    where = 'in a function' if edge.in_function else 'at module level'
    if target.layer == source.layer:
      if granted:
        continue
      why = 'same layer, not listed'
    else:
      if granted and edge.in_function:
        continue
      why = 'upward, listed for functions only' if granted else 'upward'
    lines.append(
        f'{edge.path}:{edge.line}: {edge.importer} -> {edge.imported} '
        f'(layer {source.layer} `{source.name}` -> layer {target.layer} '
        f'`{target.name}`, {why}, {where})')
  return lines


def check_layering(root, markdown):
  """Every violation of `markdown`'s layer table by the files under `root`.

  Args:
    root: the checkout.
    markdown: the text of its WORKSPACE.md.

  Returns:
    (violations, edges): the violation lines and every project import.

  Raises:
    LayerTableError: the table is malformed or disagrees with the files.
  """
  entries, allowances = parse_layer_table(markdown)
  files = module_files(root)
  placed = place_modules(entries, allowances, set(files))
  edges = []
  for module, rel in sorted(files.items()):
    edges.extend(collect_imports(root, module, rel, set(files)))
  return find_violations(edges, placed, allowances), edges


_MINI_TABLE = """\
# Title

## Layering: which module may import which

| layer | modules | may import |
|---|---|---|
| 3 top | `app` (-> `tool`), `tool` | all below |
| 2 middle | `pkg/*` (a package: `.py` files) | below |
| 1 base | `base` (-> `pkg/*`), `util` | nothing; `base` -> `util` |

## Next
"""


class LayerCheckerTest(tf.test.TestCase):
  """The checker itself, on a small made-up package."""

  def _write(self, root, files):
    for rel, source in files.items():
      path = os.path.join(root, rel)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, 'w', encoding='utf-8') as f:
        f.write(textwrap.dedent(source))

  def _check(self, files, table=_MINI_TABLE):
    root = tempfile.mkdtemp(dir=self.get_temp_dir())
    base = {'tf1cnn/__init__.py': '', 'tf1cnn/pkg/__init__.py': ''}
    base.update(files)
    self._write(root, base)
    return check_layering(root, table)

  def test_allowed_imports_pass(self):
    violations, edges = self._check({
        'tf1cnn/app.py': 'from tf1cnn import tool\nfrom tf1cnn import base\n',
        'tf1cnn/tool.py': 'import tf1cnn.util\n',
        'tf1cnn/base.py': (
            'from tf1cnn.util import helper\n'
            'def f():\n  from tf1cnn.pkg import inner\n'),
        'tf1cnn/util.py': 'import os\n',
        'tf1cnn/pkg/inner.py': 'from . import other\n',
        'tf1cnn/pkg/other.py': 'from ..base import thing\n',
    })
    self.assertEqual(violations, [])
    self.assertCountEqual(
        [(e.importer, e.imported, e.line, e.in_function) for e in edges],
        [('tf1cnn.app', 'tf1cnn.tool', 1, False),
         ('tf1cnn.app', 'tf1cnn.base', 2, False),
         ('tf1cnn.tool', 'tf1cnn.util', 1, False),
         ('tf1cnn.base', 'tf1cnn.util', 1, False),
         ('tf1cnn.base', 'tf1cnn.pkg.inner', 3, True),
         ('tf1cnn.pkg.inner', 'tf1cnn.pkg.other', 1, False),
         ('tf1cnn.pkg.other', 'tf1cnn.base', 1, False)])

  def test_every_kind_of_violation_is_reported_with_file_and_line(self):
    violations, _ = self._check({
        'tf1cnn/app.py': 'import tf1cnn.nothing\n',
        'tf1cnn/tool.py': 'x = 1\nfrom tf1cnn import app\n',
        'tf1cnn/util.py': 'def f():\n  import tf1cnn.base\n',
        'tf1cnn/base.py': 'from tf1cnn.pkg import inner\n',
        'tf1cnn/pkg/inner.py': 'class A:\n  def f(self):\n'
                               '    from tf1cnn import app\n',
    })
    self.assertCountEqual(violations, [
        'tf1cnn/app.py:1: tf1cnn.app -> tf1cnn.nothing: no such module',
        'tf1cnn/tool.py:2: tf1cnn.tool -> tf1cnn.app (layer 3 `tool` -> '
        'layer 3 `app`, same layer, not listed, at module level)',
        'tf1cnn/util.py:2: tf1cnn.util -> tf1cnn.base (layer 1 `util` -> '
        'layer 1 `base`, same layer, not listed, in a function)',
        'tf1cnn/base.py:1: tf1cnn.base -> tf1cnn.pkg.inner (layer 1 '
        '`base` -> layer 2 `pkg/*`, upward, listed for functions only, at '
        'module level)',
        'tf1cnn/pkg/inner.py:3: tf1cnn.pkg.inner -> tf1cnn.app (layer 2 '
        '`pkg/*` -> layer 3 `app`, upward, in a function)',
    ])

  def test_unlisted_module_and_missing_entry_are_errors(self):
    with self.assertRaisesRegex(LayerTableError,
                                r'`tf1cnn.extra` is in no row'):
      self._check({'tf1cnn/app.py': '', 'tf1cnn/tool.py': '',
                   'tf1cnn/base.py': '', 'tf1cnn/util.py': '',
                   'tf1cnn/pkg/a.py': '', 'tf1cnn/extra.py': ''})
    with self.assertRaisesRegex(LayerTableError,
                                r'lists `util`, which no file is'):
      self._check({'tf1cnn/app.py': '', 'tf1cnn/tool.py': '',
                   'tf1cnn/base.py': '', 'tf1cnn/pkg/a.py': ''})

  def test_malformed_tables_are_errors(self):
    files = {'tf1cnn/app.py': '', 'tf1cnn/tool.py': '',
             'tf1cnn/base.py': '', 'tf1cnn/util.py': '', 'tf1cnn/pkg/a.py': ''}
    self.assertEqual(self._check(files)[0], [])
    with self.assertRaisesRegex(LayerTableError, r'listed twice'):
      self._check(files, _MINI_TABLE.replace('`util` | nothing',
                                             '`util`, `tool` | nothing'))
    with self.assertRaisesRegex(LayerTableError, r'in no module entry'):
      self._check(files, _MINI_TABLE.replace('`base` -> `util`',
                                             '`basis` -> `util`'))
    with self.assertRaisesRegex(LayerTableError, r'no section'):
      self._check(files, _MINI_TABLE.replace('## Layering', '## Layers'))
    with self.assertRaisesRegex(LayerTableError, r'layer number'):
      self._check(files, _MINI_TABLE.replace('| 1 base', '| base'))
    with self.assertRaisesRegex(LayerTableError, r'`pkg/other` is no file'):
      self._check(files, _MINI_TABLE.replace('`base` (-> `pkg/*`)',
                                             '`base` (-> `pkg/other`)'))
    with self.assertRaisesRegex(LayerTableError, r'not a module name'):
      self._check(files, _MINI_TABLE.replace('`util`', '`Util.py`'))


class ProjectLayeringTest(tf.test.TestCase):
  """The project's own imports against WORKSPACE.md's table."""

  def test_imports_follow_the_layer_table(self):
    with open(os.path.join(_ROOT, 'WORKSPACE.md'), encoding='utf-8') as f:
      markdown = f.read()
    try:
      violations, edges = check_layering(_ROOT, markdown)
    except LayerTableError as e:
      self.fail(f'WORKSPACE.md\'s layer table disagrees with the files:\n{e}')
    seen = {(e.importer, e.imported, e.in_function) for e in edges}
    for known in [('tf1cnn.step_profile', 'tf1cnn.benchmark', False),
                  ('tf1cnn.distributed', 'tf1cnn.towers', False),
                  ('tf1cnn.kernel_probe', 'tf1cnn.models', True),
                  ('tf1cnn.cli.train', 'tf1cnn.flags', False),
                  ('scripts.train', 'tf1cnn.cli.train', False)]:
      self.assertIn(known, seen)  # the scan sees the real imports
    if violations:
      self.fail(f'{len(violations)} import(s) break the layer table of '
                'WORKSPACE.md ("' + _SECTION[3:] + '"):\n' +
                '\n'.join(violations))


if __name__ == '__main__':
  tf.test.main()
