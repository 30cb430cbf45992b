"""Progress lines for long loops: count, rate and time left.

    progress = Progress('evaluated', total=600, unit='images')
    for batch in ...:
      progress.add(len(batch))   # logs at most every `interval_secs`
    progress.done()              # one closing line

Used by the start-up check of every image, evaluation and prediction, so a
run over many files says how far it is.
"""

import time

from absl import logging


def _clock(seconds):
  seconds = max(0, int(seconds))
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
  """Counts work and logs `what count/total (rate/s, time left)` lines.

  Args:
    what: the verb of the line, e.g. 'checked'.
    total: the expected count, or None when unknown.
    unit: what is counted, e.g. 'images'.
    interval_secs: least time between two lines.
    min_total: below this total no line is logged (small jobs stay quiet).
  """

  def __init__(self, what, total=None, unit='items', interval_secs=5.0,
               min_total=0, clock=time.monotonic):
    self.what = what
    self.total = total
    self.unit = unit
    self.count = 0
    self._interval = interval_secs
    self._quiet = total is not None and total < min_total
    self._clock = clock
    self._start = clock()
    self._last = self._start
    self.lines = []

  def line(self):
    """The current progress text."""
    elapsed = self._clock() - self._start
    rate = self.count / elapsed if elapsed > 0 else 0.0
    text = f'{self.what} {self.count}'
    if self.total:
      text += f'/{self.total} {self.unit}'
    else:
      text += f' {self.unit}'
    text += f' ({rate:.1f}/s'
    if self.total and rate > 0:
      text += f', {_clock((self.total - self.count) / rate)} left'
    return text + ')'

  def add(self, count=1):
    """Counts `count` more; logs a line when `interval_secs` have passed."""
    self.count += count
    now = self._clock()
    if not self._quiet and now - self._last >= self._interval:
      self._last = now
      self._log(self.line())

  def done(self):
    """Logs the closing line (when any line was due, or always if slow)."""
    if not self._quiet and self._clock() - self._start >= self._interval:
      self._log(self.line())

  def _log(self, text):
    self.lines.append(text)
    logging.info('%s', text)
