"""The conductor: runs one Chord simulation (virtual or live) and streams it to browsers.

``protocol`` holds the wire models, ``virtual`` and ``live`` the two worlds behind one
interface, ``app`` the FastAPI application (REST, websocket, static web client).
"""
