"""omnifulfil simulation: scenario files → SimPy world → results.

The public API: :func:`load_scenario`, :func:`simulate`, :class:`Results`,
:func:`read_results` and :class:`ScenarioError`.
"""

from sim.api import simulate as simulate
from sim.errors import ScenarioError as ScenarioError
from sim.results import Results as Results
from sim.results import read_results as read_results
from sim.scenario import Scenario as Scenario
from sim.scenario import load_scenario as load_scenario
