"""How the service meets the network: uvicorn with production launch settings.

`launcher` reads the launch settings from the environment and runs uvicorn
(`python -m cardpack_service`); `protocol` is uvicorn's httptools protocol with what
uvicorn lacks: limits on header size and count, and read timeouts for headers and body.
"""
