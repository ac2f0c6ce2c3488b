"""Money and energy of a run: device-hours, kWh and USD, rented or owned.

Energy = devices × TDP × power utilisation × PUE × hours. Rental: USD = device-hours × price per
device-hour (energy is in the rent). Ownership: USD = device-hours × purchase price × (1 − residual)
/ (depreciation years × 8,760 h) + energy × power price. Defaults (reliability.md, hardware.md §5):
PUE 1.3 (new AI halls), power 0.08 USD/kWh (US industrial range 0.04-0.12), 4-year straight-line
depreciation with 20% residual, and 0.8 of TDP drawn while training (DGX H100: 6.5-8.5 kW typical of
10.2 kW maximum).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import BadInput
from .specs import Chip
from .units import HOUR


@dataclass(frozen=True, kw_only=True, slots=True)
class CostInputs:
    """Prices and site figures; None means "take the chip's catalog figure"."""

    usd_per_device_hour: float | None = None
    """rental price per device-hour, USD"""
    ownership: bool = False
    """price owned hardware (depreciation + energy) instead of rent"""
    purchase_usd: float | None = None
    """purchase price per device, USD (all-in with its share of the network when known)"""
    depreciation_years: float = 4.0
    """straight-line depreciation period, years"""
    residual_fraction: float = 0.2
    """value left at the end of depreciation, fraction of the purchase price"""
    power_usd_per_kwh: float = 0.08
    """electricity price, USD per kWh"""
    pue: float = 1.3
    """power usage effectiveness of the site"""
    power_utilisation: float = 0.8
    """fraction of TDP drawn while training"""

    def __post_init__(self) -> None:
        checks = {
            "usd_per_device_hour": (self.usd_per_device_hour, 0, 1000),
            "purchase_usd": (self.purchase_usd, 0, 5_000_000),
            "depreciation_years": (self.depreciation_years, 0, 30),
            "power_usd_per_kwh": (self.power_usd_per_kwh, 0, 10),
            "pue": (self.pue, 1, 5),
            "power_utilisation": (self.power_utilisation, 0, 1.5),
        }
        for name, (value, low, high) in checks.items():
            if value is not None and not low < value <= high:
                raise BadInput(f"--{name.replace('_', '-')} must be in ({low}, {high}], got {value}", name)
        if not 0 <= self.residual_fraction < 1:
            raise BadInput(f"--residual-fraction must be in [0, 1), got {self.residual_fraction}", "residual_fraction")


COST_KEYS = frozenset(f.name for f in dataclasses.fields(CostInputs))
"""the settings a ``--costs`` file may hold"""


def run_cost(chip: Chip, devices: int, wall_s: float, tokens: float, inputs: CostInputs) -> dict:
    """device_hours, energy_kwh, usd, usd_per_million_tokens and every assumption used."""
    device_hours = devices * wall_s / HOUR
    tdp = chip.tdp_watts
    energy_kwh = None if tdp is None else device_hours * tdp * inputs.power_utilisation * inputs.pue / 1000
    notes = []
    if inputs.ownership:
        price = inputs.purchase_usd if inputs.purchase_usd is not None else chip.purchase_usd
        if price is None or energy_kwh is None:
            usd = None
            notes.append(f"{chip.name} has no published purchase price or TDP: give --purchase-usd (and a chip file with tdp)")
        else:
            hourly = price * (1 - inputs.residual_fraction) / (inputs.depreciation_years * 8760)
            usd = device_hours * hourly + energy_kwh * inputs.power_usd_per_kwh
        pricing = {"mode": "ownership", "purchase_usd": price, "depreciation_years": inputs.depreciation_years,
                   "residual_fraction": inputs.residual_fraction, "power_usd_per_kwh": inputs.power_usd_per_kwh}
    else:
        rate = inputs.usd_per_device_hour if inputs.usd_per_device_hour is not None else chip.usd_per_hour
        usd = None if rate is None else device_hours * rate
        if rate is None:
            notes.append(f"{chip.name} has no published rental price: give --usd-per-device-hour or --ownership")
        pricing = {"mode": "rental", "usd_per_device_hour": rate}
    return {
        "device_hours": device_hours,
        "energy_kwh": energy_kwh,
        "usd": usd,
        "usd_per_million_tokens": None if usd is None else usd / tokens * 1e6,
        "assumptions": {**pricing, "pue": inputs.pue, "power_utilisation": inputs.power_utilisation,
                        "tdp_watts": tdp},
        "notes": notes,
    }
