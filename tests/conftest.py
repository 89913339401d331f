"""What the test modules share: the ``needs_data`` marker, the slow tiers' time limit and the
``--allow-skips`` check.

Almost every test makes its own images. The few that reproduce published or official numbers
read the benchmark data (:mod:`srapp.data`) and say so with ``@pytest.mark.needs_data("datasets/Set5")``
(paths inside the data folder); without that data they are skipped, all with the same kind of reason.

The slow tiers (markers ``browser``, ``openvino``, ``training``, ``packaging``, registered in
pyproject.toml) may take :data:`TIER_TIMEOUT` seconds a test; every other test pyproject's ``timeout``.

``--allow-skips=data`` makes the run fail when a test is skipped for any other reason, and
``--allow-skips=none`` when any test is skipped at all (the data present, nothing may be left out).
"""

from __future__ import annotations

import pytest

from srapp.data import DATA_ENV, data_path, data_root

DATA_SKIP = "skipped_for_missing_data"  # a user property of the reports of such skips
SLOW_TIERS = ("browser", "openvino", "training", "packaging")
TIER_TIMEOUT = 1200  # seconds: a shared 2-core machine trains or compiles several times slower than an idle one
ALLOW_SKIPS = ("any", "data", "none")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allow-skips", choices=ALLOW_SKIPS, default="any",
        help="any (default); data: fail the run when a test is skipped for anything but missing benchmark "
        "data; none: fail the run when any test is skipped",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_data(*paths): the test reads these paths of the benchmark data folder "
        f"(${DATA_ENV}, else ../shared beside the repository) and is skipped without them",
    )
    allowed = config.getoption("--allow-skips")
    if allowed != "any" and not hasattr(config, "workerinput"):  # not in an xdist worker
        config.pluginmanager.register(SkipCheck(allowed), "srapp-skip-check")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None and any(item.get_closest_marker(t) for t in SLOW_TIERS):
            item.add_marker(pytest.mark.timeout(TIER_TIMEOUT))


def missing_data_reason(paths: tuple[str, ...]) -> str | None:
    """Why a test that reads ``paths`` of the data folder cannot run, or ``None`` when it can."""
    missing = [path for path in paths if data_path(path) is None]
    if not missing:
        return None
    root = data_root()
    where = "no data folder found" if root is None else f"not in the data folder {root}"
    return (f"needs the benchmark data {', '.join(missing)} ({where}): set {DATA_ENV} to the folder with "
            "datasets/, calibration/ and reference/ (README, Data)")


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    paths = tuple(path for mark in item.iter_markers("needs_data") for path in mark.args)
    reason = missing_data_reason(paths)
    if reason is not None:
        item.user_properties.append((DATA_SKIP, reason))
        pytest.skip(reason)


class SkipCheck:
    """Collects the skips that ``--allow-skips`` forbids and fails the run when there are any.
    Runs in the controlling process (under xdist, the workers' reports come to it)."""

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed
        self.unexpected: list[str] = []

    def check(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if not report.skipped or getattr(report, "wasxfail", None) is not None:
            return
        for_data = any(name == DATA_SKIP for name, _ in getattr(report, "user_properties", ()))
        if self.allowed == "none" or not for_data:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.unexpected.append(f"{report.nodeid}: {reason}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.check(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.check(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.unexpected:
            return
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        write = reporter.write_line if reporter is not None else print
        write(f"{len(self.unexpected)} skipped, but --allow-skips={self.allowed}:")
        for line in self.unexpected:
            write(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def basicsr_warnings():
    """The messages BasicSR's logger receives at WARNING or above during the test, however an
    earlier test in the process left that logger (a ``logging.config.dictConfig`` elsewhere, e.g.
    by a web server, disables existing loggers; BasicSR raises the level on non-zero ranks)."""
    import logging

    logger = logging.getLogger("basicsr")
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    disabled, level = logger.disabled, logger.level
    logger.disabled = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.disabled = disabled
        logger.setLevel(level)


@pytest.fixture(scope="module")
def openvino_cache(tmp_path_factory):
    """Converted, quantised and compiled networks go to a folder of this module's run, not the
    user's cache (the backend's ``SRAPP_OPENVINO_CACHE``)."""
    from srapp.engine.backends.openvino import CACHE_ENV

    folder = tmp_path_factory.mktemp("openvino-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder
