"""The benchmark IVR as the applications each server sends, in order (what flows/ivr.yaml does)."""

STEPS = [
    ("answer", None),
    ("playback", "ivr/welcome.wav"),
    ("play_and_get_digits", r"1 1 1 5000 # ivr/menu.wav silence_stream://250 choice \d 3000"),
    ("set", "continue_on_fail=true"),
    ("set", "hangup_after_bridge=false"),
    ("bridge", "user/1001"),
]
