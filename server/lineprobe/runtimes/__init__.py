"""Helpers lineprobe puts into managed runtimes: the JVMTI agent for Java's lines."""
