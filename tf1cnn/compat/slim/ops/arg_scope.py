"""Slim's `arg_scope`: default keyword arguments for decorated functions.

    @add_arg_scope
    def my_layer(inputs, depth, padding='VALID'): ...

    with arg_scope([my_layer, slim.conv2d], padding='SAME'):
      with arg_scope([slim.conv2d], stride=2) as sc:
        ...        # conv2d gets padding='SAME', stride=2
    with arg_scope(sc):   # re-enter a saved scope
      ...

Arguments given at the call win over the scope's; inner scopes override
outer ones for the same function. A scope is a dict from a function's key
(`arg_scope_func_key`) to its keyword arguments; the stack of scopes is
process-wide, as in TF-Slim.
"""

import contextlib
import functools

__all__ = [
    'add_arg_scope', 'arg_scope', 'arg_scope_func_key', 'arg_scoped_arguments',
    'current_arg_scope', 'has_arg_scope',
]

# The stack of active scopes; the bottom entry is the empty scope.
_ARG_STACK = [{}]
# Key of every decorated function -> names of its keyword arguments.
_DECORATED_OPS = {}


def current_arg_scope():
  """The innermost active scope (a dict key -> kwargs); do not modify it."""
  if not _ARG_STACK:
    _ARG_STACK.append({})
  return _ARG_STACK[-1]


def arg_scope_func_key(op):
  """The key under which `op`'s defaults are stored in a scope."""
  return getattr(op, '_key_op', str(op))


def _keyword_names(func):
  """The names of `func`'s parameters that have defaults."""
  code = func.__code__
  defaults = func.__defaults__ or ()
  positional = code.co_varnames[:code.co_argcount]
  names = list(positional[len(positional) - len(defaults):])
  names.extend(code.co_varnames[code.co_argcount:
                                code.co_argcount + code.co_kwonlyargcount])
  return tuple(names)


@contextlib.contextmanager
def arg_scope(list_ops_or_scope, **kwargs):
  """Sets default keyword arguments for a list of decorated functions.

  Args:
    list_ops_or_scope: a list or tuple of functions decorated with
      `add_arg_scope`, or a scope dict yielded by an earlier `arg_scope`
      (re-entered as it was; `kwargs` must then be empty).
    **kwargs: the defaults, merged into those of enclosing scopes.

  Yields:
    The new current scope (a dict that can be re-entered later).

  Raises:
    ValueError: a function is not decorated, or kwargs come with a dict.
    TypeError: `list_ops_or_scope` is neither a list/tuple nor a dict.
  """
  if isinstance(list_ops_or_scope, dict):
    if kwargs:
      raise ValueError('When attempting to re-use a scope by suppling a '
                       'dictionary, kwargs must be empty.')
    scope = dict(list_ops_or_scope)
  else:
    if not isinstance(list_ops_or_scope, (list, tuple)):
      raise TypeError('list_ops_or_scope must either be a list/tuple or reused '
                      'scope (i.e. dict)')
    scope = dict(current_arg_scope())
    for op in list_ops_or_scope:
      if not has_arg_scope(op):
        name = getattr(op, '__name__', repr(op))
        raise ValueError(f'{name} is not decorated with @add_arg_scope')
      key = arg_scope_func_key(op)
      merged = dict(scope.get(key, {}))
      merged.update(kwargs)
      scope[key] = merged
  _ARG_STACK.append(scope)
  try:
    yield scope
  finally:
    _ARG_STACK.pop()


def add_arg_scope(func):
  """Decorates `func` so that `arg_scope` can supply its keyword arguments.

  Args:
    func: the function to decorate.

  Returns:
    A wrapper with `func`'s name and docstring; explicit keyword arguments
    override the scope's.
  """
  key = arg_scope_func_key(func)

  @functools.wraps(func)
  def func_with_args(*args, **kwargs):
    defaults = current_arg_scope().get(key)
    if defaults:
      merged = dict(defaults)
      merged.update(kwargs)
      kwargs = merged
    return func(*args, **kwargs)

  _DECORATED_OPS[key] = _keyword_names(func)
  func_with_args._key_op = key  # pylint: disable=protected-access
  return func_with_args


def has_arg_scope(func):
  """Whether `func` was decorated with `add_arg_scope`."""
  return arg_scope_func_key(func) in _DECORATED_OPS


def arg_scoped_arguments(func):
  """The keyword argument names `arg_scope` may set for `func`."""
  if not has_arg_scope(func):
    raise ValueError(f'{func} is not decorated with @add_arg_scope')
  return _DECORATED_OPS[arg_scope_func_key(func)]
