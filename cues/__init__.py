"""Cue experts: each turns one kind of evidence into a likelihood over the cell grid."""

from geosleuth.cues.base import BaseCue, Cue, CueOutput, Evidence, GeoPoint
from geosleuth.cues.registry import create_cue, list_cues, register_cue

__all__ = ["BaseCue", "Cue", "CueOutput", "Evidence", "GeoPoint", "create_cue", "list_cues", "register_cue"]
