"""Plots a person would rather look at than read: self-contained HTML (plotly, no CDN)."""

from __future__ import annotations

from ..results import TrainResult


def scaling_plot(results: list[TrainResult], path: str) -> None:
    """Tokens/s and MFU against device count, as a self-contained HTML file (plotly, no CDN)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    devices = [r.devices for r in results]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=devices, y=[r.tokens_per_s for r in results], name="tokens/s", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=devices, y=[100 * r.mfu for r in results], name="MFU (%)", mode="lines+markers"),
                  secondary_y=True)
    first = results[0]
    fig.update_layout(title=f"{first.model.name} on {first.chip.name}: best plan per cluster size")
    fig.update_xaxes(title_text="devices", type="log")
    fig.update_yaxes(title_text="throughput (tokens/s)", secondary_y=False)
    fig.update_yaxes(title_text="MFU (%)", secondary_y=True)
    fig.write_html(path, include_plotlyjs=True)
