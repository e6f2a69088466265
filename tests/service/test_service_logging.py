"""The server's log lines: control characters from requests are escaped, never written raw."""

from __future__ import annotations

import logging

from pushgate.service.runtime import SafeFormatter


def test_control_characters_in_a_log_message_are_escaped() -> None:
    record = logging.LogRecord("pushgate.server", logging.WARNING, __file__, 1,
                               "unknown user %s", ("a\x00b\nFORGED line\x1b[31m",), None)
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING unknown user a\\x00b\\nFORGED line\\x1b[31m"
    assert "\x00" not in line
    assert "\n" not in line
