"""The slot runner: hal0-slot@NAME.service's main process. Standard library only.

Nothing here may import outside the standard library or from the rest of hal0d (except
`hal0d.runner` itself): it runs at every slot start and should start fast and stay small.
"""
