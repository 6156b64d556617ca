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
"""Which name reaches the agent as display-name, with and without Nova.

Nova is not installed in this environment: the Nova modules the plugin
reads are stand-ins placed in ``sys.modules`` here.  The same paths run
against the real, patched and unpatched, Nova 34 in ``nova_e2e``.
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any
from unittest import mock

import fixtures
import os_vif

from vif_plug_vrouter import display_name
from os_vif_accel.testing import vrouter_fixtures as vfix
from vif_plug_vrouter.tests.unit import test_plugin


class NovaStandIn(fixtures.Fixture):
    """``nova.network.os_vif_util`` (patched or not) and the object API."""

    def __init__(self, patched: bool, instances: dict[str, Any]) -> None:
        super().__init__()
        self.patched = patched
        self.instances = instances
        self.lookups: list[tuple[str, Any]] = []

    def _setUp(self) -> None:
        conversion = types.ModuleType(display_name.NOVA_CONVERSION)
        if self.patched:
            setattr(conversion, display_name.NOVA_MARKER,
                    ('vrouter', 'contrail_vrouter'))
        context = types.ModuleType('nova.context')
        context.get_admin_context = lambda: 'admin'  # type: ignore
        objects = types.ModuleType('nova.objects')
        stand_in = self

        class Instance(dict):  # type: ignore[type-arg]
            @classmethod
            def get_by_uuid(cls, ctxt: Any, uuid: str,
                            expected_attrs: Any = None) -> Any:
                stand_in.lookups.append((uuid, expected_attrs))
                found = stand_in.instances[uuid]
                if isinstance(found, Exception):
                    raise found
                inst = cls(display_name=found)
                inst.display_name = found  # type: ignore[attr-defined]
                return inst

        objects.Instance = Instance  # type: ignore[attr-defined]
        modules = mock.patch.dict(sys.modules, {
            display_name.NOVA_CONVERSION: conversion,
            'nova.context': context, 'nova.objects': objects})
        modules.start()
        self.addCleanup(modules.stop)
        self.useFixture(fixtures.MonkeyPatch(
            'vif_plug_vrouter.display_name._warned', set()))


class TestDisplayName(test_plugin.PluginTestBase):

    def plug(self, inst: Any) -> str:
        vif = vfix.generic_vif()
        os_vif.plug(vif, inst)
        sent = json.loads([r for r in self.emu.emulator.requests
                           if r[0] == 'POST'][-1][2])
        return str(sent['display-name'])

    def test_without_nova_instance_info_name_is_used(self) -> None:
        self.assertNotIn(display_name.NOVA_CONVERSION, sys.modules)
        self.assertEqual('web-1', self.plug(vfix.instance(name='web-1')))

    def test_patched_nova_name_is_used_without_lookup(self) -> None:
        nova = self.useFixture(NovaStandIn(True, {}))
        self.assertEqual('web server 1',
                         self.plug(vfix.instance(name='web server 1')))
        self.assertEqual([], nova.lookups)

    def test_unpatched_nova_display_name_is_looked_up(self) -> None:
        inst = vfix.instance(name='instance-0000002a')
        nova = self.useFixture(NovaStandIn(False, {inst.uuid: 'web-1'}))
        self.assertEqual('web-1', self.plug(inst))
        # The instance row only: no join of its network info cache.
        self.assertEqual([(inst.uuid, [])], nova.lookups)

    def test_unpatched_nova_lookup_failure_sends_domain_name(self) -> None:
        inst = vfix.instance(name='instance-0000002a')
        logs = self.useFixture(fixtures.FakeLogger())
        self.useFixture(NovaStandIn(False, {inst.uuid: RuntimeError(
            'no conductor at rabbit://nova:s3cret@ctl:5672/')}))
        self.assertEqual('instance-0000002a', self.plug(inst))
        self.assertIn('Could not look up the display name', logs.output)
        self.assertIn('RuntimeError', logs.output)
        self.assertNotIn('s3cret', logs.output)

    def test_unpatched_nova_lookup_disabled_sends_domain_name(self) -> None:
        inst = vfix.instance(name='instance-0000002a')
        self.configure(nova_display_name_lookup=False)
        logs = self.useFixture(fixtures.FakeLogger())
        nova = self.useFixture(NovaStandIn(False, {inst.uuid: 'web-1'}))
        self.assertEqual('instance-0000002a', self.plug(inst))
        self.assertEqual('instance-0000002a', self.plug(inst))
        self.assertEqual([], nova.lookups)
        self.assertEqual(1, logs.output.count('nova_patches/0003'))

    def test_instance_without_display_name_keeps_domain_name(self) -> None:
        inst = vfix.instance(name='instance-0000002a')
        self.useFixture(NovaStandIn(False, {inst.uuid: None}))
        self.assertEqual('instance-0000002a', self.plug(inst))
