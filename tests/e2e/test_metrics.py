"""Not written yet."""
import sys
sys.exit("not written yet")
