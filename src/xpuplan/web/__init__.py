"""HTTP API and web page (optional extra: pip install 'xpuplan[web]'). The app only renders API results."""
