"""The bundled demo: real pipeline on bundled audio through a real local broker."""
