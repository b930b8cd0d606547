# toy_classifier with a hook that SIGKILLs the process after custom_hooks.0.kill_at iterations.
_base_ = ['./toy_classifier.py']
custom_hooks = [dict(type='KillAtIterHook', kill_at=-1)]
