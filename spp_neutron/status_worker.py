# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""The neutron-server worker process that runs the driver's one port
state watch (:mod:`spp_neutron.status`), so API workers open none.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import worker

__all__ = ['StatusWorker']


class StatusWorker(worker.BaseWorker):
    """neutron-server worker process running the one port state watch.

    :param driver: the ``spp`` mechanism driver; its
        ``start_status_watcher``/``stop_status_watcher`` and ``watcher``.
    """

    def __init__(self, driver: Any) -> None:
        super().__init__(worker_process_count=1, desc='SPP port status')
        self.driver = driver

    def start(self, **kwargs: Any) -> None:
        super().start(**kwargs)
        self.driver.start_status_watcher()

    def stop(self) -> None:
        self.driver.stop_status_watcher()

    def wait(self) -> None:
        watcher = self.driver.watcher
        if watcher is not None:
            watcher.stopped.wait()

    def reset(self) -> None:
        """Nothing to reload: options are read at start."""
