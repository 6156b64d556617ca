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

import io
import os
import tempfile
from contextlib import redirect_stderr

import testtools

from vif_plug_spp import builder
from vif_plug_spp.cmd import config_build

MAPPINGS = '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02'


def _c(core, ctype, name, rx, tx):
    return ('{"core": %d, "type": "%s", "name": "%s", "rx_port": [%s], '
            '"tx_port": [%s]}' % (core, ctype, name,
                                  ', '.join('"%s"' % p for p in rx),
                                  ', '.join('"%s"' % p for p in tx)))


# The worked example of the reference (§4.3), spelled out by hand in the
# upstream builder's key order and json.dumps separators.
NIC1 = ', '.join([
    _c(2, 'forward', 'forward_0_tx', ['ring:0'], ['vhost:0']),
    _c(3, 'forward', 'forward_0_rx', ['vhost:0'], ['ring:1']),
    _c(4, 'forward', 'forward_1_tx', ['ring:2'], ['vhost:1']),
    _c(5, 'forward', 'forward_1_rx', ['vhost:1'], ['ring:3']),
    _c(6, 'classifier_mac', 'classifier', ['phy:0'], ['ring:0', 'ring:2']),
    _c(7, 'merge', 'merger', ['ring:1', 'ring:3'], ['phy:0'])])
NIC2 = ', '.join([
    _c(10, 'forward', 'forward_2_tx', ['ring:4'], ['vhost:2']),
    _c(11, 'forward', 'forward_2_rx', ['vhost:2'], ['ring:5']),
    _c(12, 'forward', 'forward_3_tx', ['ring:6'], ['vhost:3']),
    _c(13, 'forward', 'forward_3_rx', ['vhost:3'], ['ring:7']),
    _c(14, 'classifier_mac', 'classifier', ['phy:1'], ['ring:4', 'ring:6']),
    _c(15, 'merge', 'merger', ['ring:5', 'ring:7'], ['phy:1'])])
EXPECTED = (
    '{"vf": [{"physical_network": "phys1", "pci_address": "00:04.0", '
    '"num_vhost": 2, "core_mask": "0xfe", "components": [' + NIC1 + ']}, '
    '{"physical_network": "phys2", "pci_address": "00:05.0", '
    '"num_vhost": 2, "core_mask": "0xfc02", "components": [' + NIC2 +
    ']}], "mirror": [{"core": 16, "ports": ["ring:8", "ring:9"]}, '
    '{"core": 17, "ports": ["ring:10", "ring:11"]}]}')


class TestWorkedExample(testtools.TestCase):

    def test_byte_for_byte(self):
        config = builder.build(MAPPINGS, '2#0x30002')
        self.assertEqual(EXPECTED, builder.dumps(config))

    def test_without_mirror_has_no_mirror_key(self):
        config = builder.build(MAPPINGS)
        self.assertNotIn('mirror', config)
        self.assertEqual(EXPECTED.split(', "mirror"')[0] + '}',
                         builder.dumps(config))

    def test_slot_keys(self):
        config = builder.build(MAPPINGS, '2#0x30002')
        self.assertEqual(
            ['/spp/openstack/vhost/h/phys1/0',
             '/spp/openstack/vhost/h/phys1/1',
             '/spp/openstack/vhost/h/phys2/2',
             '/spp/openstack/vhost/h/phys2/3',
             '/spp/openstack/mirror/h/0', '/spp/openstack/mirror/h/1'],
            builder.slot_keys('h', config))

    def test_launch_plan(self):
        config = builder.build(MAPPINGS, '2#0x30002')
        plan = '\n'.join(builder.launch_plan(config, '0x2',
                                             mirror_core_mask='0x30002'))
        self.assertIn('-p 0x3 -n 12 ', plan)          # 2 NICs, 2*4+2*2 rings
        self.assertIn('spp_vf -c 0xfe -n 4 --proc-type secondary -- '
                      '--client-id 1 ', plan)
        self.assertIn('spp_vf -c 0xfc02 -n 4 --proc-type secondary -- '
                      '--client-id 2 ', plan)
        self.assertIn('--vhost-client', plan)
        self.assertIn('spp_mirror -c 0x30002', plan)
        self.assertIn('--client-id 3', plan)

    def test_full_pci_address_and_optional_0x(self):
        config = builder.build('0000:00:04.0#phys1#1#fe')
        vf = config['vf'][0]
        self.assertEqual('0000:00:04.0', vf['pci_address'])
        self.assertEqual('fe', vf['core_mask'])
        self.assertEqual([2, 3, 4, 5], [c['core'] for c in vf['components']])


class TestValidation(testtools.TestCase):

    def _fails(self, *args, **kwargs):
        return str(self.assertRaises(builder.BuildError, builder.build,
                                     *args, **kwargs))

    def test_empty(self):
        self.assertIn('DPDK_PORT_MAPPINGS is empty', self._fails(''))

    def test_field_count(self):
        msg = self._fails('00:04.0#phys1#2')
        self.assertIn('mapping 1', msg)
        self.assertIn('expected 4 fields', msg)

    def test_bad_pci(self):
        msg = self._fails('00:4.0#phys1#2#0xfe')
        self.assertIn("'00:4.0' is not a PCI address", msg)

    def test_mask_typo_named(self):
        msg = self._fails('00:04.0#phys1#2#0xfe,00:05.0#phys2#2#xfc02')
        self.assertIn('mapping 2', msg)
        self.assertIn("core mask 'xfc02' is not hexadecimal", msg)
        self.assertIn('did you mean 0xfc02?', msg)

    def test_mask_garbage(self):
        self.assertIn("'0xZZ' is not hexadecimal",
                      self._fails('00:04.0#phys1#2#0xZZ'))

    def test_mask_beyond_rte_max_lcore(self):
        msg = self._fails('00:04.0#phys1#1#0x1%s' % ('0' * 32))
        self.assertIn('core(s) 128; DPDK accepts lcores 0-127 '
                      '(RTE_MAX_LCORE=128)', msg)
        self.assertIn('--max-lcore', msg)

    def test_mask_far_beyond_limit_is_refused_quickly(self):
        msg = self._fails('00:04.0#phys1#1#0x3' + 'f' * 100000)
        self.assertIn('core(s) 400001;', msg)
        self.assertLess(len(msg), 400)

    def test_too_few_cores(self):
        msg = self._fails('00:04.0#phys1#3#0xfe')
        self.assertIn('3 vhost(s) need 8 worker cores', msg)
        self.assertIn('gives 6 (2, 3, 4, 5, 6, 7)', msg)

    def test_num_vhost_not_a_number(self):
        self.assertIn("number of vhosts 'two'",
                      self._fails('00:04.0#phys1#two#0xfe'))

    def test_bad_physnet(self):
        self.assertIn('cannot be part of an etcd key',
                      self._fails('00:04.0#phys/1#2#0xfe'))

    def test_overlapping_cores(self):
        msg = self._fails('00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfe0')
        self.assertIn('both use core(s) 5, 6, 7', msg)

    def test_master_may_be_shared(self):
        builder.build('00:04.0#phys1#1#0x3e,00:05.0#phys2#1#0x7c2')

    def test_duplicate_pci(self):
        self.assertIn('PCI address 0000:00:04.0 is already used',
                      self._fails('00:04.0#phys1#1#0x3e,'
                                  '0000:00:04.0#phys2#1#0x7c0'))

    def test_mirror_malformed(self):
        self.assertIn('SPP_MIRROR', self._fails(MAPPINGS, 'two#0x30002'))

    def test_mirror_too_few_cores(self):
        self.assertIn('3 mirror(s) need 3 worker core(s)',
                      self._fails(MAPPINGS, '3#0x30002'))

    def test_mirror_overlap(self):
        self.assertIn('SPP_MIRROR', self._fails(MAPPINGS, '2#0x6002'))


SHARED = {'vf': [{'components': [
    {'core': 2, 'name': 'forward_0_tx', 'type': 'forward',
     'rx_port': ['ring:0'], 'tx_port': ['vhost:0']},
    {'core': 2, 'name': 'forward_0_rx', 'type': 'forward',
     'rx_port': ['vhost:0'], 'tx_port': ['ring:1']},
    {'core': 3, 'name': 'forward_1_tx', 'type': 'forward',
     'rx_port': ['ring:2'], 'tx_port': ['vhost:1']},
    {'core': 3, 'name': 'forward_1_rx', 'type': 'forward',
     'rx_port': ['vhost:1'], 'tx_port': ['ring:3']},
    {'core': 4, 'name': 'classifier', 'type': 'classifier_mac',
     'rx_port': ['phy:0'], 'tx_port': ['ring:0', 'ring:2']},
    {'core': 5, 'name': 'merger', 'type': 'merge',
     'rx_port': ['ring:1', 'ring:3'], 'tx_port': ['phy:0']}]}]}


class TestCustomization(testtools.TestCase):

    def _custom(self):
        import copy
        return copy.deepcopy(SHARED)

    def _fails(self, custom, mappings='00:04.0#phys1#2#0x3e', mirror=None):
        return str(self.assertRaises(builder.BuildError, builder.build,
                                     mappings, mirror, custom))

    def test_shared_cores_documented_example(self):
        config = builder.build('00:04.0#phys1#2#0x3e', None, self._custom())
        self.assertEqual([2, 2, 3, 3, 4, 5],
                         [c['core'] for c in config['vf'][0]['components']])

    def test_no_forwarders_documented_example(self):
        custom = {'vf': [{'components': [
            {'core': 6, 'name': 'classifier', 'type': 'classifier_mac',
             'rx_port': ['phy:0'], 'tx_port': ['vhost:0', 'vhost:1']},
            {'core': 7, 'name': 'merger', 'type': 'merge',
             'rx_port': ['vhost:0', 'vhost:1'], 'tx_port': ['phy:0']}]}]}
        config = builder.build('00:04.0#phys1#2#0xc2', None, custom)
        self.assertEqual(2, len(config['vf'][0]['components']))

    def test_wrong_entry_count(self):
        self.assertIn('"vf" has 1 entries but DPDK_PORT_MAPPINGS lists 2',
                      self._fails(self._custom(),
                                  '00:04.0#phys1#2#0x3e,'
                                  '00:05.0#phys2#2#0xfc00'))

    def test_no_vf_list(self):
        self.assertIn('top-level "vf" list', self._fails({'mirror': []}))

    def test_core_outside_mask(self):
        custom = self._custom()
        custom['vf'][0]['components'][4]['core'] = 9
        self.assertIn('core 9 is not a worker core', self._fails(custom))

    def test_core_shared_by_different_types(self):
        custom = self._custom()
        custom['vf'][0]['components'][4]['core'] = 5
        self.assertIn('only shares a core between components of the same '
                      'type', self._fails(custom))

    def test_vhost_of_other_nic(self):
        custom = self._custom()
        custom['vf'][0]['components'][0]['tx_port'] = ['vhost:7']
        self.assertIn("vhost:7 is not one of this NIC's vhosts",
                      self._fails(custom))

    def test_vhost_missing(self):
        self.assertIn('vhost(s) 2 must appear', self._fails(
            self._custom(), '00:04.0#phys1#3#0x3e'))

    def test_wrong_phy(self):
        custom = self._custom()
        custom['vf'][0]['components'][4]['rx_port'] = ['phy:1']
        self.assertIn('phy:1 is not this NIC', self._fails(custom))

    def test_bad_type(self):
        custom = self._custom()
        custom['vf'][0]['components'][4]['type'] = 'classifer'
        self.assertIn("type 'classifer' must be one of", self._fails(custom))

    def test_missing_field(self):
        custom = self._custom()
        del custom['vf'][0]['components'][4]['rx_port']
        self.assertIn('missing rx_port', self._fails(custom))

    def test_bad_port(self):
        custom = self._custom()
        custom['vf'][0]['components'][4]['tx_port'] = ['ring0', 'ring:2']
        self.assertIn("port 'ring0' must look like", self._fails(custom))

    def test_forward_port_count(self):
        custom = self._custom()
        custom['vf'][0]['components'][0]['rx_port'] = ['ring:0', 'ring:9']
        self.assertIn('needs exactly 1 rx_port', self._fails(custom))

    def test_duplicate_name(self):
        custom = self._custom()
        custom['vf'][0]['components'][1]['name'] = 'forward_0_tx'
        self.assertIn('must be a unique', self._fails(custom))

    def test_mirror_missing_in_yaml(self):
        self.assertIn('needs a "mirror" list of 1 entries', self._fails(
            self._custom(), mirror='1#0x30002'))

    def test_mirror_from_yaml(self):
        custom = self._custom()
        custom['mirror'] = [{'core': 16, 'ports': ['ring:8', 'ring:9']}]
        config = builder.build('00:04.0#phys1#2#0x3e', '1#0x10002', custom)
        self.assertEqual([{'core': 16, 'ports': ['ring:8', 'ring:9']}],
                         config['mirror'])

    def test_mirror_yaml_bad_ports(self):
        custom = self._custom()
        custom['mirror'] = [{'core': 16, 'ports': ['ring:8']}]
        self.assertIn('ports must be two rings',
                      self._fails(custom, mirror='1#0x10002'))


class TestCommandLine(testtools.TestCase):

    def _run(self, *argv, env=None):
        err = io.StringIO()
        lines = []
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            with redirect_stderr(err):
                try:
                    rc = config_build.run(list(argv), lines.append)
                except builder.BuildError as exc:
                    rc = 2
                    err.write(str(exc))
                if not lines and rc == 0:
                    rc = config_build.main(list(argv))
        finally:
            os.environ.clear()
            os.environ.update(old)
        return rc, lines, err.getvalue()

    def test_dry_run_prints_config_plan_and_keys(self):
        rc, lines, _err = self._run('--dry-run', '--host', 'h',
                                    '--mappings', MAPPINGS,
                                    '--mirror', '2#0x30002')
        self.assertEqual(0, rc)
        self.assertEqual(EXPECTED, lines[0])
        self.assertIn('/spp/openstack/vhost/h/phys2/3', lines)
        self.assertTrue(any(line.startswith('spp_primary') for line in lines))

    def test_environment_variables(self):
        rc, lines, _err = self._run('--dry-run', env={
            'DPDK_PORT_MAPPINGS': MAPPINGS, 'SPP_HOST': 'envhost'})
        self.assertEqual(0, rc)
        self.assertIn('/spp/openstack/vhost/envhost/phys1/0', lines)

    def test_main_exit_status_and_message(self):
        err = io.StringIO()
        with redirect_stderr(err):
            rc = config_build.main(['--dry-run', '--mappings',
                                    '00:04.0#phys1#2#xfe'])
        self.assertEqual(2, rc)
        self.assertIn('spp-config-build: error: mapping 1', err.getvalue())
        self.assertNotIn('Traceback', err.getvalue())

    def test_missing_etcd_host(self):
        err = io.StringIO()
        with redirect_stderr(err):
            rc = config_build.main(['--mappings', MAPPINGS, '--host', 'h',
                                    '--etcd-host', ''])
        self.assertEqual(2, rc)
        self.assertIn('ETCD_ENDPOINTS (--etcd-endpoints) is required',
                      err.getvalue())

    def test_yaml_errors(self):
        with tempfile.NamedTemporaryFile('w', suffix='.yaml') as f:
            f.write('vf: [\n')
            f.flush()
            err = io.StringIO()
            with redirect_stderr(err):
                rc = config_build.main(['--dry-run', '--mappings', MAPPINGS,
                                        '--customization', f.name])
        self.assertEqual(2, rc)
        self.assertIn('is not valid YAML', err.getvalue())

    def test_destroy_dry_run_uses_trailing_slash(self):
        rc, lines, _err = self._run('destroy', '--dry-run', '--host', 'spp1')
        self.assertEqual(0, rc)
        self.assertIn('would delete /spp/openstack/vhost/spp1/', lines)
        self.assertFalse([line for line in lines
                          if line.endswith('spp1') and 'configuration'
                          not in line])


class TestHostName(testtools.TestCase):

    def test_invalid_host(self):
        err = io.StringIO()
        with redirect_stderr(err):
            rc = config_build.main(['--dry-run', '--host', 'spp/1',
                                    '--mappings', MAPPINGS])
        self.assertEqual(2, rc)
        self.assertIn('SPP_HOST', err.getvalue())
        self.assertIn('no "/"', err.getvalue())


class TestSharedPhysnet(testtools.TestCase):
    """Two NICs on one physical network (NS devstack/spp-config-build.py
    133-167 accepts it; ids stay host-global, keys share the prefix).
    """

    MAPS = '00:04.0#phys1#2#0xfe,00:05.0#phys1#1#0x1f00'

    def test_config_keeps_both_nics(self):
        config = builder.build(self.MAPS)
        self.assertEqual(['phys1', 'phys1'],
                         [vf['physical_network'] for vf in config['vf']])
        nic2 = config['vf'][1]['components']
        self.assertEqual(['forward_2_tx', 'forward_2_rx', 'classifier',
                          'merger'], [c['name'] for c in nic2])
        self.assertEqual(['phy:1'], nic2[2]['rx_port'])
        self.assertEqual(['ring:4'], nic2[2]['tx_port'])

    def test_slot_keys_share_the_physnet_prefix(self):
        config = builder.build(self.MAPS)
        self.assertEqual(['/spp/openstack/vhost/h/phys1/%d' % i
                          for i in range(3)],
                         builder.slot_keys('h', config))

    def test_launch_plan_has_one_spp_vf_per_nic(self):
        plan = builder.launch_plan(builder.build(self.MAPS))
        self.assertIn('-p 0x3 -n 6', plan[1])
        self.assertIn('--client-id 2', plan[3])
        self.assertIn('00:05.0 phys1', plan[3])


class TestHighCores(testtools.TestCase):
    """Masks as DPDK's EAL reads them (18.08 eal_common_options.c
    410-475): arbitrary precision up to RTE_MAX_LCORE (128 by default).
    """

    def test_cores_above_31(self):
        config = builder.build('00:04.0#phys1#1#0x3e0100000000')
        self.assertEqual([41, 42, 43, 44], [
            c['core'] for c in config['vf'][0]['components']])

    def test_cores_up_to_127_with_shared_master(self):
        nic1 = hex(1 | 0xf << 100)
        nic2 = hex(1 | 0xf << 124)
        config = builder.build('00:04.0#phys1#1#%s,00:05.0#phys2#1#%s'
                               % (nic1, nic2), '1#%s' % hex(1 | 1 << 64))
        self.assertEqual([100, 101, 102, 103], [
            c['core'] for c in config['vf'][0]['components']])
        self.assertEqual([124, 125, 126, 127], [
            c['core'] for c in config['vf'][1]['components']])
        self.assertEqual(64, config['mirror'][0]['core'])
        self.assertEqual(nic2, config['vf'][1]['core_mask'])

    def test_leading_zeros_and_blanks_like_the_eal(self):
        mask = ' 0x' + '0' * 40 + 'f' + '0' * 25 + '1 '
        config = builder.build('00:04.0#phys1#1#' + mask.strip())
        self.assertEqual([104, 105, 106, 107], [
            c['core'] for c in config['vf'][0]['components']])
        self.assertEqual([0, 104], builder.parse_mask(
            mask.replace('f', '1'), 'x'))

    def test_overlap_above_31_is_found(self):
        masks = hex(1 | 0xf << 40), hex(1 | 0xf << 43)
        msg = str(self.assertRaises(
            builder.BuildError, builder.build,
            '00:04.0#phys1#1#%s,00:05.0#phys2#1#%s' % masks))
        self.assertIn('both use core(s) 43', msg)

    def test_larger_rte_max_lcore(self):
        mask = hex(1 | 0xf << 200)
        self.assertRaises(builder.BuildError, builder.build,
                          '00:04.0#phys1#1#' + mask)
        config = builder.build('00:04.0#phys1#1#' + mask, max_lcore=256)
        self.assertEqual(203, config['vf'][0]['components'][-1]['core'])

    def test_max_lcore_bounds(self):
        for bad in (0, -1, True, 5000):
            self.assertRaises(builder.BuildError, builder.build,
                              '00:04.0#phys1#1#0x3e', max_lcore=bad)

    def test_customization_core_above_31(self):
        custom = {'vf': [{'components': [
            {'core': 70, 'name': 'classifier', 'type': 'classifier_mac',
             'rx_port': ['phy:0'], 'tx_port': ['vhost:0']},
            {'core': 71, 'name': 'merger', 'type': 'merge',
             'rx_port': ['vhost:0'], 'tx_port': ['phy:0']}]}]}
        config = builder.build('00:04.0#phys1#1#' + hex(1 | 3 << 70), None,
                               custom)
        self.assertEqual([70, 71], [
            c['core'] for c in config['vf'][0]['components']])


class TestClassifierName(testtools.TestCase):
    """SPP renamed classifier_mac to classifier in 18.08.4 (SPP 9b63754,
    2c1470f; release commit 6e811d6).
    """

    def test_version_picks_the_name(self):
        for version, name in (('18.08', 'classifier_mac'),
                              ('18.08.1', 'classifier_mac'),
                              ('18.08.3', 'classifier_mac'),
                              ('18.08.4', 'classifier'),
                              ('19.08', 'classifier'),
                              ('19.11', 'classifier')):
            self.assertEqual(name, builder.classifier_type(version),
                             version)

    def test_bad_version(self):
        for bad in ('19', 'latest', '19.08.x', '1.2.3.4', '19.08\n'):
            self.assertRaises(builder.BuildError, builder.classifier_type,
                              bad)

    def test_generated_classifier_uses_the_target_name(self):
        config = builder.build(MAPPINGS, classifier='classifier')
        self.assertEqual(['classifier', 'classifier'], [
            vf['components'][4]['type'] for vf in config['vf']])
        self.assertRaises(builder.BuildError, builder.build, MAPPINGS,
                          classifier='classifer')

    def _custom(self, ctype):
        return {'vf': [{'components': [
            {'core': 6, 'name': 'cls', 'type': ctype,
             'rx_port': ['phy:0'], 'tx_port': ['vhost:0']},
            {'core': 6, 'name': 'cls2', 'type': 'classifier_mac',
             'rx_port': ['phy:0'], 'tx_port': ['vhost:1']},
            {'core': 7, 'name': 'merger', 'type': 'merge',
             'rx_port': ['vhost:0', 'vhost:1'], 'tx_port': ['phy:0']}]}]}

    def test_customization_accepts_both_names(self):
        for ctype in ('classifier', 'classifier_mac'):
            for target in ('classifier', 'classifier_mac'):
                config = builder.build('00:04.0#phys1#2#0xc2', None,
                                       self._custom(ctype),
                                       classifier=target)
                comps = config['vf'][0]['components']
                self.assertEqual([target, target, 'merge'],
                                 [c['type'] for c in comps])

    def test_cli_spp_version_and_classifier_type(self):
        for argv, name in ((['--spp-version', '19.08'], 'classifier'),
                           (['--spp-version', '18.08'], 'classifier_mac'),
                           ([], 'classifier_mac'),
                           (['--classifier-type', 'classifier'],
                            'classifier')):
            lines = []
            config_build.run(['--mappings', MAPPINGS, '--host', 'h',
                              '--dry-run'] + argv, out=lines.append)
            self.assertIn('"type": "%s", "name": "classifier"' % name,
                          lines[0], argv)

    def test_cli_refuses_both_options(self):
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertRaises(SystemExit, config_build.main, [
                '--mappings', MAPPINGS, '--dry-run', '--spp-version',
                '19.08', '--classifier-type', 'classifier'])
        self.assertIn('not allowed with argument', err.getvalue())

    def test_cli_max_lcore(self):
        mask = hex(1 | 0xf << 200)
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(2, config_build.main([
                '--mappings', '00:04.0#phys1#1#' + mask, '--dry-run']))
        self.assertIn('RTE_MAX_LCORE=128', err.getvalue())
        lines = []
        config_build.run(['--mappings', '00:04.0#phys1#1#' + mask,
                          '--host', 'h', '--max-lcore', '256', '--dry-run'],
                         out=lines.append)
        self.assertIn('"core": 203', lines[0])
