# The models live in the migrations: the test adds them one step at a time.
