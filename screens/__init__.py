"""One module per station screen; each owns its bindings. Screens never build SQL or open a
reader: they call store operations in thread workers and render the frozen results."""

from screens.help import HelpScreen
from screens.role_picker import RolePickerScreen
from screens.sim_tap import SimulatedTapScreen
from screens.station import StationScreen

__all__ = ["HelpScreen", "RolePickerScreen", "SimulatedTapScreen", "StationScreen"]
