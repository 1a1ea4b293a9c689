"""A stand-alone fake of the Images Edits API (AceData Cloud gateway flavour).

``python -m editor.simulator`` runs it for the offline demo; tests start it in-process with
``editor.simulator.server.Simulator``. Werkzeug (HTTP) and Pillow (images) only: no Django here.
"""
