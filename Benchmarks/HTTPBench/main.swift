print("HTTP bench")
