#!/usr/bin/env python3
"""placeholder until the proxy lands"""
