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

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.todo',
    'openstackdocstheme',
    'reno.sphinxext',
    'oslo_config.sphinxext',
]

openstackdocs_repo_name = 'x/os-vif-accel'
openstackdocs_bug_project = 'os-vif-accel'
openstackdocs_bug_tag = ''
openstackdocs_auto_name = False

source_suffix = '.rst'
master_doc = 'index'
project = 'os-vif-accel'
copyright = '2026, os-vif-accel developers'
pygments_style = 'native'
html_theme = 'openstackdocs'
# Per-topic deviation tables, pulled into reference/compatibility.rst with
# '.. include::' (each helper branch owns one file, so merges never clash).
exclude_patterns = ['reference/compat/*']
