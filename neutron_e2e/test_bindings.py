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
"""spp_neutron.bindings.PendingReleases on a real SQLAlchemy session
(SQLite), with a port/binding pair shaped like Neutron's (the bindings
deleted with their port by ORM cascade, plugins/ml2/models.py 57-63):
what is released after commit, and what a rollback keeps.
"""

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import orm
import testtools

from spp_neutron import bindings


class Base(orm.DeclarativeBase):
    pass


class Port(Base):
    __tablename__ = 'ports'
    id = sa.Column(sa.String(36), primary_key=True)


class Binding(Base):
    __tablename__ = 'bindings'
    port_id = sa.Column(sa.String(36), sa.ForeignKey('ports.id'),
                        primary_key=True)
    host = sa.Column(sa.String(255), primary_key=True)
    vif_type = sa.Column(sa.String(64))
    port = orm.relationship(Port, backref=orm.backref(
        'bindings', cascade='delete'))


class Level(Base):
    """``ml2_port_binding_levels`` (plugins/ml2/models.py 67-98)."""
    __tablename__ = 'levels'
    port_id = sa.Column(sa.String(36), sa.ForeignKey('ports.id'),
                        primary_key=True)
    host = sa.Column(sa.String(255), primary_key=True)
    level = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    driver = sa.Column(sa.String(64))
    port = orm.relationship(Port, backref=orm.backref(
        'binding_levels', cascade='delete'))


class TestPendingReleases(testtools.TestCase):

    def setUp(self):
        super().setUp()
        engine = sa.create_engine('sqlite://')
        Base.metadata.create_all(engine)
        self.session = orm.Session(engine)
        self.addCleanup(self.session.close)
        self.released = []
        pending = bindings.PendingReleases(
            Binding, lambda host, port: self.released.append((host, port)),
            Level, 'spp')
        event.listen(self.session, 'after_flush', pending.flushed)
        event.listen(self.session, 'after_commit', pending.committed)
        event.listen(self.session, 'after_soft_rollback',
                     pending.rolled_back)
        self.session.add_all([Port(id='p1'), Port(id='p2'),
                              Binding(port_id='p1', host='src',
                                      vif_type='unbound'),
                              Binding(port_id='p1', host='dst',
                                      vif_type='vhostuser'),
                              Binding(port_id='p2', host='src',
                                      vif_type='ovs')])
        self.session.commit()

    def delete(self, port_id, host):
        self.session.delete(self.session.get(Binding, (port_id, host)))
        self.session.flush()

    def test_released_after_commit_only(self):
        self.delete('p1', 'src')
        self.assertEqual([], self.released)

        self.session.commit()

        self.assertEqual([('src', 'p1')], self.released)

    def test_rollback_releases_nothing(self):
        self.delete('p1', 'dst')
        self.session.rollback()
        self.session.commit()

        self.assertEqual([], self.released)
        self.assertIsNotNone(self.session.get(Binding, ('p1', 'dst')))

    def test_rolled_back_savepoint_releases_nothing(self):
        nested = self.session.begin_nested()
        self.delete('p1', 'dst')
        nested.rollback()
        self.session.commit()

        self.assertEqual([], self.released)

    def test_other_vif_types_are_not_ours(self):
        self.delete('p2', 'src')
        self.session.commit()

        self.assertEqual([], self.released)

    def test_port_delete_cascades_to_every_binding(self):
        self.session.delete(self.session.get(Port, 'p1'))
        self.session.commit()

        self.assertEqual([('dst', 'p1'), ('src', 'p1')],
                         sorted(self.released))

    def test_rows_other_drivers_bound_are_not_released(self):
        self.session.add_all([
            Port(id='p3'),
            Binding(port_id='p3', host='ovs', vif_type='vhostuser'),
            Binding(port_id='p3', host='spp', vif_type='vhostuser'),
            Level(port_id='p3', host='ovs', level=0, driver='openvswitch'),
            Level(port_id='p3', host='spp', level=0, driver='tor'),
            Level(port_id='p3', host='spp', level=1, driver='spp')])
        self.session.commit()
        self.session.delete(self.session.get(Port, 'p3'))
        self.session.commit()

        self.assertEqual([('spp', 'p3')], self.released)

    def test_a_failing_release_neither_fails_the_commit_nor_the_rest(self):
        def release(host, port):
            self.released.append((host, port))
            raise RuntimeError('etcd is down')
        pending = bindings.PendingReleases(Binding, release)
        self.session.info[pending.KEY] = [('src', 'p1', 'unbound'),
                                          ('dst', 'p1', 'vhostuser')]

        pending.committed(self.session)

        self.assertEqual([('src', 'p1'), ('dst', 'p1')], self.released)
